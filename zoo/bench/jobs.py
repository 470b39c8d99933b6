"""What a bench's driver hands a worker (:class:`Job`) and what comes back (:class:`Outcome`).

Both are plain, picklable values: a worker may be another process on this machine or a Ray task on another node,
so it gets names and settings, never objects of the driver's registry, and loads the plugins itself.

A cell's **key** (:func:`cell_key`) is the record of everything that changes its result: the model's resolved
hyperparameters, the step budget, batch size and evaluation steps, the training-set limit, the precision and
compilation, the model's and the dataset's plugin distribution, version and code digest
(:class:`~zoo.plugin_code.PluginCode`: editing a plugin's files changes the key), and what identifies every protocol
it is scored under. It is stored with the cell; a stored cell whose key differs is stale and is re-run, never mixed in.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from zoo.bench.profiles import Profile
from zoo.data.folder import FolderDataset
from zoo.data.sources import FOLDER_PREFIX, FolderOptions
from zoo.hashing import sha256_json
from zoo.interfaces import DatasetSpec
from zoo.plugin_code import PluginCode
from zoo.results import Cell, Row
from zoo.runs import RunConfig


def cell_key(
    config: RunConfig | None,
    *,
    dataset: str,
    profile: Profile,
    plugin: PluginCode,
    dataset_plugin: PluginCode,
    protocols: list[dict[str, Any]],
) -> dict[str, Any]:
    """The key of a cell run with ``config`` (None for a dataset's real-data floor), as stored: JSON values only.

    ``plugin`` and ``dataset_plugin`` identify the model's and the dataset's plugins (a floor's key has no model);
    ``protocols`` what identifies each protocol scoring the dataset (settings, weights digest, metrics code, a
    third-party extractor's plugin).
    """
    key: dict[str, Any] = {
        "dataset": dataset,
        "dataset_plugin": dataset_plugin.record(),
        "train_limit": profile.train_limit,
        "protocols": protocols,
    }
    if config is not None:
        key |= {
            "run": json.loads(json.dumps(asdict(config))),  # as stored: tuples become lists
            "eval_steps": sorted(profile.eval_steps_for(config.model)),
            "plugin": plugin.record(),
        }
    return key


def key_id(key: dict[str, Any]) -> str:
    """A key's short id (12 hex digits of its SHA-256), as rows show it."""
    return sha256_json(key)[:12]


def key_changes(old: dict[str, Any], new: dict[str, Any]) -> str:
    """What differs between a stored key and a planned one, in words (``run.steps 2500 -> 3000``)."""
    if not old:
        return "recorded before zoo kept each cell's settings"
    flat_old, flat_new = _flatten(old), _flatten(new)
    changed = sorted(k for k in flat_old.keys() | flat_new.keys() if flat_old.get(k) != flat_new.get(k))
    return "; ".join(f"{k} {flat_old.get(k)!r} -> {flat_new.get(k)!r}" for k in changed[:4]) + (
        f"; and {len(changed) - 4} more" if len(changed) > 4 else ""
    )


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for name, value in record.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{name}.")
        else:
            flat[f"{prefix}{name}"] = value
    return flat


@dataclass(frozen=True)
class Origin:
    """What a local worker takes from the driver when it starts: ``sys.path``, ``os.environ`` (with the worker's
    thread settings) and the working directory, as they are when the job starts. (A worker forked from a server
    that started earlier would otherwise see them as they were then: a plugin installed or a variable set since,
    as tests do, would be missing.)"""

    sys_path: tuple[str, ...]
    environ: dict[str, str]
    cwd: str


def folder_source(dataset: DatasetSpec) -> tuple[str, FolderOptions] | None:
    """For an image-folder dataset, ``folder:PATH`` and the options that make it again in a worker
    (:func:`zoo.data.sources.with_datasets`, from the cache the driver filled; unreadable files were already stopped
    at or left out there, so ``skip`` gives the same images); None for a registered dataset."""
    if not isinstance(dataset, FolderDataset):
        return None
    return f"{FOLDER_PREFIX}{dataset.folder}", FolderOptions(dataset.size, dataset.test_fraction, "skip")


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to run one cell.

    ``config`` is the cell's run configuration (None for the floor); ``key`` its key, whose plugin records (the
    model's and the dataset's distribution, version and code digest) the worker must find in its own registry too.
    ``device`` is ``cpu`` or ``cuda[:i]``;
    ``threads`` the torch threads the worker uses; ``workers`` how many cells run at once (recorded in the rows);
    ``load_plugins`` the plugin selection (:func:`zoo.plugins.load_registry`'s ``only``); ``folder``, for an image
    folder dataset, how the worker makes it again (:func:`folder_source`); ``origin`` the driver's import path,
    environment and working directory, for a local worker to take (None: keep its own).
    """

    cell: Cell
    config: RunConfig | None
    key: dict[str, Any]
    profile: Profile
    device: str
    threads: int
    workers: int
    work_dir: str
    data_root: str | None = None
    load_plugins: tuple[str, ...] | None = None
    progress: bool = False
    folder: tuple[str, FolderOptions] | None = None
    origin: Origin | None = None
    stack: tuple[Job, ...] = ()
    """A stacked job (``zoo bench --stack-seeds``, :mod:`zoo.bench.stacking`): the jobs of the cells (seeds of one
    model on one dataset) whose runs train as one stack in this worker; ``cell``, ``config`` and ``key`` are the
    first one's. Empty for a job of one cell."""

    @property
    def key_id(self) -> str:
        return key_id(self.key)

    @property
    def members(self) -> tuple[Job, ...]:
        """The jobs of the cells this job runs: its stack, or itself."""
        return self.stack or (self,)


@dataclass(frozen=True)
class Outcome:
    """What became of a job. ``status``: ``ok``, ``diverged at step N`` (both are results: ``rows``, the
    ``protocols`` they name, and for ``ok`` the sample grid as PNG bytes) or ``failed``, with ``kind`` (``error``:
    plugin or zoo code raised; ``died``: the worker process ended without reporting; ``timed out``; ``not run``)
    and ``cause`` in one line. ``seconds``: wall time of the cell in its worker."""

    status: str
    rows: list[Row] = field(default_factory=list)
    protocols: dict[str, dict[str, Any]] = field(default_factory=dict)
    grid_png: bytes | None = None
    traversals: dict[str, bytes] = field(default_factory=dict)
    """For a generator with named latent codes: code name -> its traversal grid as PNG bytes."""
    neighbours_png: bytes | None = None
    """The run's nearest-neighbour pairs grid (:data:`zoo.runs.NEIGHBOURS`), when memorisation was measured."""
    kind: str = ""
    cause: str = ""
    seconds: float | None = None
    members: tuple[Outcome, ...] = ()
    """A stacked job's outcome (status ``stacked``): one per job of its stack, in order."""

    @classmethod
    def failed(cls, kind: str, cause: str, seconds: float | None = None) -> Outcome:
        return cls("failed", kind=kind, cause=cause, seconds=seconds)

    @property
    def is_result(self) -> bool:
        return self.status != "failed"
