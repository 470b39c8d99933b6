"""The results store: one JSON file per finished cell, failure records, and the long table derived from them.

A cell's file is written atomically, by the bench's driver only, once the cell is done, so the set of files IS
the record of what is finished: a crash or Ctrl-C loses at most the running cells, a rerun skips the cells whose
file holds the same settings, and no row can be duplicated. Each file stores its rows, the protocols they name
and the cell's **key**: the record of everything that changes the cell's result (see
:func:`zoo.bench.jobs.cell_key`); a stored cell whose key differs from the planned one is stale, and is moved to
``superseded/`` before it is re-run, so tables never mix settings.

``results.csv`` (the long table, one :class:`Row` per line) is derived: every reader here reads the cell files,
and the table is rewritten from them after every cell and at the start of every bench, so a crash between a
cell's file and the table is repaired by the next run.

Layout under ``results/<profile>/``::

    cells/<dataset>/<model>-s<seed>.json        one finished (model, dataset, seed) cell: key, rows, protocols
    cells/<dataset>/<model>~t<trial>-s<seed>.json   one finished trial of a sweep (a cell like the others)
    grids/<dataset>/<model>-s<seed>.png         the cell's sample grid at its last step
    neighbours/<dataset>/<model>-s<seed>.png    its samples nearest the training images, beside them
    traversals/<dataset>/<model>-s<seed>-<code>.png   a latent code's traversal grid (models that name codes)
    cells/<dataset>/real-data.json              the real-vs-real floor of a dataset (the model name is reserved)
    failures/<dataset>/<name>.json              why the last attempt at an unfinished cell failed (not a result)
    superseded/<dataset>/<name>-<key id>.json   a cell replaced because its settings changed (kept, not shown)
    .claims/<dataset>/<name>.lock               held while a bench runs that cell (see zoo.bench.claims)
    results.csv                                 every row of every cell

Model names match ``[a-z][a-z0-9_-]*`` and seeds and trials are integers, so ``<model>-s<seed>`` and
``<model>~t<trial>-s<seed>`` (``~`` is in no model name) name one cell only, and only the floor (``seed=None``, no
trial) maps to ``real-data.json``: no model can address another thing's file.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from zoo.errors import ZooError
from zoo.fileio import atomic_path, stale_partial, write_json
from zoo.plugins import REAL_DATA

TRAVERSALS = "traversals"
"""The folder of a results folder holding the traversal grids of models with named latent codes."""
NEIGHBOURS = "neighbours"
"""The folder of a results folder holding each model cell's nearest-neighbour pairs (memorisation)."""
IMAGE_FOLDERS = ("grids", NEIGHBOURS)
"""The folders holding one PNG per cell, named like its cell file: ``<folder>/<dataset>/<cell name>.png``."""

__all__ = [
    "COLUMNS",
    "IMAGE_FOLDERS",
    "NEIGHBOURS",
    "REAL_DATA",
    "TRAVERSALS",
    "Cell",
    "ResultStore",
    "Row",
    "cell_run_dir",
    "neighbours_path",
    "traversal_path",
]


@dataclass(frozen=True)
class Cell:
    """One unit of bench work: a model on a dataset with a seed, or (``seed=None``, model ``real-data``) the
    dataset's real-data floor. ``trial``: which setting of a hyperparameter sweep the model runs with
    (:func:`zoo.search_space.draw`), None outside a sweep (the floor never has one)."""

    model: str
    dataset: str
    seed: int | None
    trial: int | None = None

    def __post_init__(self) -> None:
        if (self.model == REAL_DATA) != (self.seed is None) or (self.seed is None and self.trial is not None):
            raise ValueError(f"{self.model!r} with seed {self.seed}: only the real-data floor has no seed (nor trial)")

    @classmethod
    def floor(cls, dataset: str) -> Cell:
        return cls(REAL_DATA, dataset, None)

    @classmethod
    def of(cls, record: dict[str, Any]) -> Cell:
        """The cell a failure record names (records written before sweeps have no ``trial``)."""
        return cls(record["model"], record["dataset"], record["seed"], record.get("trial"))

    @property
    def is_floor(self) -> bool:
        return self.seed is None

    @property
    def name(self) -> str:
        """The file stem of this cell: ``<model>-s<seed>``, ``<model>~t<trial>-s<seed>`` for a sweep's trial, or
        ``real-data`` for the floor."""
        if self.seed is None:
            return REAL_DATA
        return f"{self.model}{'' if self.trial is None else f'~t{self.trial}'}-s{self.seed}"

    def __str__(self) -> str:
        if self.is_floor:
            return f"real-data floor of {self.dataset}"
        return (
            f"{self.model} on {self.dataset}, {'' if self.trial is None else f'trial {self.trial}, '}seed {self.seed}"
        )


def traversal_path(results_dir: Path, cell: Cell, code: str) -> Path:
    """Where a cell's traversal grid of latent code ``code`` is kept (see the module docstring)."""
    return Path(results_dir) / TRAVERSALS / cell.dataset / f"{cell.name}-{code}.png"


def neighbours_path(results_dir: Path, cell: Cell) -> Path:
    """Where a model cell's nearest-neighbour pairs grid is kept (see the module docstring)."""
    return Path(results_dir) / NEIGHBOURS / cell.dataset / f"{cell.name}.png"


def cell_run_dir(cell: Cell) -> str:
    """The run folder of a model cell, relative to the bench's work folder: ``runs/<dataset>/<model>-s<seed>``."""
    return f"runs/{cell.dataset}/{cell.name}"


@dataclass(frozen=True)
class Row:
    """One line of the long table: one metric value of one cell at one evaluated step, or a cell's ``diverged``
    marker (``metric="diverged"``, no protocol, no value).

    ``status`` is ``ok`` (``value`` set), ``unavailable`` (``reason`` says why) or ``diverged``. Seconds are wall
    time on ``device``: ``train_seconds`` counts training steps only, ``eval_seconds`` the cell's evaluations so far.
    ``hparams`` is the model's resolved hyperparameters as JSON; ``cell_key`` the id of the cell's key (every
    setting that changes its result); ``precision`` (``fp32`` or ``bf16``) and ``compiled`` how the steps ran;
    ``threads`` the torch threads of the worker process, ``workers`` how many cells the bench ran at once, ``host``
    the machine the cell ran on; ``run`` the cell's run folder (:func:`cell_run_dir`), relative to the bench's work
    folder: it opens with :func:`zoo.load_run`; ``plugin_code`` the first 12 hex digits of the SHA-256 of the
    ``plugin`` distribution's code (:func:`zoo.plugin_code.code_sha256`), which the cell key holds in full;
    ``trial`` the cell's trial in a hyperparameter sweep, whose setting ``hparams`` holds (None outside a sweep).
    (Their defaults are what rows stored before these columns existed mean.)
    """

    model: str
    plugin: str
    plugin_version: str
    dataset: str
    protocol: str
    protocol_id: str
    seed: int | None
    step: int
    images_seen: int
    metric: str
    value: float | None
    status: str
    reason: str
    train_seconds: float | None
    images_per_second: float | None
    eval_seconds: float | None
    params_generator: int | None
    params_total: int | None
    device: str
    device_name: str
    torch_version: str
    zoo_version: str
    git_commit: str
    hparams: str = "{}"
    cell_key: str = ""
    precision: str = "fp32"
    compiled: bool = False
    run: str = ""
    threads: int | None = None
    workers: int | None = None
    host: str = ""
    plugin_code: str = ""
    trial: int | None = None


COLUMNS = tuple(field.name for field in dataclasses.fields(Row))
"""The long table's columns, in order."""


class ResultStore:
    """Cell files, failure records and the long table of one profile's results folder."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def cell_path(self, cell: Cell) -> Path:
        return self.root / "cells" / cell.dataset / f"{cell.name}.json"

    def failure_path(self, cell: Cell) -> Path:
        return self.root / "failures" / cell.dataset / f"{cell.name}.json"

    def stored_key(self, cell: Cell) -> dict[str, Any] | None:
        """The key the stored ``cell`` was made with; None when it is not stored, ``{}`` for a file written before
        zoo recorded keys (which matches no planned key)."""
        path = self.cell_path(cell)
        return read_cell(path).get("key", {}) if path.exists() else None

    def write_cell(
        self, cell: Cell, key: dict[str, Any], rows: list[Row], protocols: dict[str, dict[str, Any]]
    ) -> None:
        """Record a finished cell with its key and the settings of the protocols its rows name (id -> record),
        atomically; drop its failure record; rebuild ``results.csv``."""
        data = {"key": key, "rows": [dataclasses.asdict(row) for row in rows], "protocols": protocols}
        write_json(self.cell_path(cell), data)
        self.failure_path(cell).unlink(missing_ok=True)
        self.write_table()

    def supersede(self, cell: Cell, key_id: str) -> Path:
        """Move the stored ``cell`` (made with other settings, ``key_id`` being its key's id) out of the tables, to
        ``superseded/``; returns where it went."""
        target = self.root / "superseded" / cell.dataset / f"{cell.name}-{key_id}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.cell_path(cell), target)
        self.write_table()
        return target

    def write_failure(self, cell: Cell, key: dict[str, Any], kind: str, cause: str) -> None:
        """Record why the last attempt at ``cell`` failed (``kind``: ``error``, ``died``, ``timed out`` or ``not
        run``). A failure is not a result: the cell stays unfinished and a rerun tries it again."""
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        record = {"model": cell.model, "dataset": cell.dataset, "seed": cell.seed, "trial": cell.trial}
        record |= {"kind": kind, "cause": cause}
        write_json(self.failure_path(cell), {**record, "at": now, "key": key})

    def failures(self) -> list[dict[str, Any]]:
        """The failure record of every cell whose last attempt failed, sorted by dataset, model and seed."""
        return [_read_json(path) for path in sorted((self.root / "failures").glob("*/*.json"))]

    def rows(self) -> pd.DataFrame:
        """Every stored row, as a DataFrame with :data:`COLUMNS` (empty when nothing is stored)."""
        rows = (row for cell in self._cells() for row in cell["rows"])
        return pd.DataFrame(list(rows), columns=list(COLUMNS))

    def protocols(self) -> dict[str, dict[str, Any]]:
        """Protocol id -> its settings, for every protocol a stored row names."""
        return {pid: record for cell in self._cells() for pid, record in cell.get("protocols", {}).items()}

    def remove_partial_files(self) -> list[Path]:
        """Delete the temporary files that a bench killed mid-write on this machine left in the folder
        (:func:`zoo.fileio.stale_partial`); returns them. The files they were to replace are whole."""
        stale = [path for path in self.root.rglob(".*.tmp") if stale_partial(path)]
        for path in stale:
            path.unlink(missing_ok=True)
        return stale

    def write_table(self) -> Path:
        """Rewrite ``results.csv`` from the cell files."""
        path = self.root / "results.csv"
        with atomic_path(path) as tmp:
            self.rows().to_csv(tmp, index=False)
        return path

    def _cells(self) -> Iterable[dict[str, Any]]:
        for path in sorted((self.root / "cells").glob("*/*.json")):
            yield read_cell(path)


def read_cell(path: Path) -> dict[str, Any]:
    """A cell file's content; an empty, corrupt or foreign file is a one-line :class:`ZooError` naming it."""
    data = _read_json(path)
    if not (isinstance(data, dict) and isinstance(data.get("rows"), list)):
        raise ZooError(f"{path} is not a zoo cell file (it has no list of rows); delete it and rerun zoo bench")
    return data


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        what = "empty" if path.stat().st_size == 0 else f"not valid JSON ({error})"
        raise ZooError(f"{path} is {what}; delete it and rerun zoo bench to redo that cell") from None
