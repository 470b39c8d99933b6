"""The results store: one JSON file per finished cell, and the long table derived from them.

A cell's file is written atomically once the cell is done, so the set of files IS the record of what is
finished: a crash or Ctrl-C loses at most the running cell, a rerun skips the cells whose file exists, and
no row can be duplicated. ``results.csv`` (the long table, one row per metric value) is rebuilt from the
cell files after every cell.

Layout under ``results/<profile>/``::

    cells/<dataset>/<model>-s<seed>.json      rows of one (model, dataset, seed) cell
    cells/<dataset>/real-data.json            the real-vs-real floor rows of a dataset
    results.csv                               every row of every cell
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from zoo.fileio import atomic_path, write_json

# The long table's columns, in order. Each row is one metric value of one cell at one step.
COLUMNS = (
    "model", "plugin", "plugin_version", "dataset", "protocol", "protocol_id", "seed", "step", "images_seen",
    "metric", "value", "status", "reason", "train_seconds", "images_per_second", "eval_seconds",
    "params_generator", "params_total", "device", "device_name", "torch_version", "zoo_version", "git_commit",
)  # fmt: skip
REAL_DATA = "real-data"
"""The ``model`` name of the real-vs-real floor rows."""


class ResultStore:
    """Cell files and the long table of one profile's results folder."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def cell_path(self, dataset: str, model: str, seed: int | None) -> Path:
        name = REAL_DATA if model == REAL_DATA else f"{model}-s{seed}"
        return self.root / "cells" / dataset / f"{name}.json"

    def is_finished(self, dataset: str, model: str, seed: int | None) -> bool:
        return self.cell_path(dataset, model, seed).exists()

    def write_cell(self, dataset: str, model: str, seed: int | None, rows: list[dict[str, Any]]) -> None:
        """Record a finished cell (atomically), then rebuild ``results.csv``."""
        for row in rows:
            missing = set(COLUMNS) - set(row)
            if missing:
                raise ValueError(f"result row lacks {sorted(missing)}")
        write_json(self.cell_path(dataset, model, seed), {"rows": rows})
        self.write_table()

    def rows(self) -> pd.DataFrame:
        """Every stored row, as a DataFrame with :data:`COLUMNS` (empty when nothing is stored)."""
        return pd.DataFrame(list(_read_rows(sorted((self.root / "cells").glob("*/*.json")))), columns=list(COLUMNS))

    def write_table(self) -> Path:
        path = self.root / "results.csv"
        with atomic_path(path) as tmp:
            self.rows().to_csv(tmp, index=False)
        return path


def _read_rows(paths: list[Path]) -> Iterable[dict[str, Any]]:
    for path in paths:
        yield from json.loads(path.read_text(encoding="utf-8"))["rows"]
