"""The results store: one JSON file per finished cell, and the long table derived from them.

A cell's file is written atomically once the cell is done, so the set of files IS the record of what is
finished: a crash or Ctrl-C loses at most the running cell, a rerun skips the cells whose file exists, and
no row can be duplicated. ``results.csv`` (the long table, one :class:`Row` per line) is rebuilt from the cell
files after every cell.

Layout under ``results/<profile>/``::

    cells/<dataset>/<model>-s<seed>.json      one (model, dataset, seed) cell: its rows and its protocols
    cells/<dataset>/real-data.json            the real-vs-real floor of a dataset
    results.csv                               every row of every cell
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from zoo.fileio import atomic_path, write_json

REAL_DATA = "real-data"
"""The ``model`` name of the real-vs-real floor rows."""


@dataclass(frozen=True)
class Row:
    """One line of the long table: one metric value of one cell at one evaluated step, or a cell's ``diverged``
    marker (``metric="diverged"``, no protocol, no value).

    ``status`` is ``ok`` (``value`` set), ``unavailable`` (``reason`` says why) or ``diverged``. Seconds are wall
    time on ``device``: ``train_seconds`` counts training steps only, ``eval_seconds`` the cell's evaluations so far.
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


COLUMNS = tuple(field.name for field in dataclasses.fields(Row))
"""The long table's columns, in order."""


class ResultStore:
    """Cell files and the long table of one profile's results folder."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def cell_path(self, dataset: str, model: str, seed: int | None) -> Path:
        name = REAL_DATA if model == REAL_DATA else f"{model}-s{seed}"
        return self.root / "cells" / dataset / f"{name}.json"

    def is_finished(self, dataset: str, model: str, seed: int | None) -> bool:
        return self.cell_path(dataset, model, seed).exists()

    def write_cell(
        self, dataset: str, model: str, seed: int | None, rows: list[Row], protocols: dict[str, dict[str, Any]]
    ) -> None:
        """Record a finished cell with the settings of the protocols its rows name (id -> record), atomically,
        then rebuild ``results.csv``."""
        data = {"rows": [dataclasses.asdict(row) for row in rows], "protocols": protocols}
        write_json(self.cell_path(dataset, model, seed), data)
        self.write_table()

    def rows(self) -> pd.DataFrame:
        """Every stored row, as a DataFrame with :data:`COLUMNS` (empty when nothing is stored)."""
        rows = (row for cell in self._cells() for row in cell["rows"])
        return pd.DataFrame(list(rows), columns=list(COLUMNS))

    def protocols(self) -> dict[str, dict[str, Any]]:
        """Protocol id -> its settings, for every protocol a stored row names."""
        return {pid: record for cell in self._cells() for pid, record in cell.get("protocols", {}).items()}

    def write_table(self) -> Path:
        path = self.root / "results.csv"
        with atomic_path(path) as tmp:
            self.rows().to_csv(tmp, index=False)
        return path

    def _cells(self) -> Iterable[dict[str, Any]]:
        for path in sorted((self.root / "cells").glob("*/*.json")):
            yield json.loads(path.read_text(encoding="utf-8"))
