"""Errors that are the user's to fix. The CLI prints them as one line, without a traceback.

Exit status: :class:`UsageError` (the command line asks for something that does not exist or is not allowed)
exits 2, as click's own usage errors do; every other :class:`ZooError` (a file, folder, run, dataset, plugin or
training run that is not as it must be) exits 1.
"""


class ZooError(Exception):
    """A problem with the user's input, files or environment, stated in one actionable sentence."""


class ZooWarning(UserWarning):
    """Something the user should know that does not stop the command; the CLI prints it as one line."""


class ZooPluginWarning(UserWarning):
    """A plugin was skipped or clashes with another (:mod:`zoo.plugins`); the CLI prints these as one line each."""


class UsageError(ZooError):
    """A value the user asked for that zoo cannot take: an unknown name, a hyperparameter of the wrong type, a class
    label the model does not have. The CLI exits 2."""


class UnknownName(UsageError):
    """A model, dataset, plugin or profile name that is not registered."""


class DatasetNotFound(ZooError):
    """A dataset's files are missing; the message says where zoo looked and how to get them."""


class PluginError(ZooError):
    """A plugin registered something invalid or clashing."""


class Diverged(ZooError):
    """Training produced a non-finite loss at ``step``, after ``images_seen`` images (that step's included)."""

    def __init__(self, step: int, losses: dict[str, float], images_seen: int):
        self.step = step
        self.losses = losses
        self.images_seen = images_seen
        super().__init__(f"training diverged at step {step}: losses {losses}")


def describe(error: BaseException) -> str:
    """``"Type: first line of the message"`` (just ``"Type"`` when the message is empty), for one-line reports of
    third-party failures. Never raises, even for an exception whose ``str`` does."""
    try:
        lines = str(error).strip().splitlines()
    except BaseException:  # noqa: BLE001 - a plugin's exception may break even str()
        lines = ["(message unprintable)"]
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
