"""Errors that are the user's to fix. The CLI prints them as one line, without a traceback."""


class ZooError(Exception):
    """A problem with the user's input, files or environment, stated in one actionable sentence."""


class ZooWarning(UserWarning):
    """Something the user should know that does not stop the command; the CLI prints it as one line."""


class UnknownName(ZooError):
    """A model, dataset, plugin or profile name that is not registered."""


class DatasetNotFound(ZooError):
    """A dataset's files are missing; the message says where zoo looked and how to get them."""


class PluginError(ZooError):
    """A plugin registered something invalid or clashing."""


class Diverged(ZooError):
    """Training produced a non-finite loss."""

    def __init__(self, step: int, losses: dict[str, float]):
        self.step = step
        self.losses = losses
        super().__init__(f"training diverged at step {step}: losses {losses}")
