"""Removing a model's results from a results folder without hand-editing files (``zoo results drop``).

A model's results are its cell files (``cells/<dataset>/<model>-s<seed>.json``, recognised by the model their
rows name, not by their file name) and its sample grids (``grids/<dataset>/<model>-s<seed>.png``). Each file goes
in one ``unlink``, the cell files first; then ``results.csv`` is rewritten atomically. A drop cut short leaves
every file whole and is finished by running it again. The report is the caller's to rewrite
(:func:`zoo.report.write_report`, as ``zoo results drop`` does).
"""

from __future__ import annotations

import json
from pathlib import Path

from zoo.errors import ZooError
from zoo.plugins import Registry
from zoo.results.store import REAL_DATA, ResultStore


def stored_models(results_dir: Path) -> list[str]:
    """The models with rows in ``results_dir`` (without the real-data floor), sorted."""
    return sorted(set(ResultStore(results_dir).rows()["model"]) - {REAL_DATA})


def uninstalled_models(results_dir: Path, registry: Registry) -> list[str]:
    """The models stored in ``results_dir`` that no loaded plugin registers any more."""
    return [model for model in stored_models(results_dir) if model not in registry.models]


def drop_models(results_dir: Path, models: list[str], *, dataset: str | None = None) -> list[Path]:
    """Delete the cells and sample grids of ``models`` (on ``dataset`` only, when given) from ``results_dir``,
    then rebuild ``results.csv``. Returns the files deleted.

    Raises :class:`ZooError`, deleting nothing, when a name is the real-data floor or has no cells there."""
    results_dir = Path(results_dir)
    if REAL_DATA in models:
        raise ZooError(f"{REAL_DATA} is each dataset's floor, not a model; it cannot be dropped")
    cells: dict[str, list[Path]] = {model: [] for model in models}
    for path in sorted((results_dir / "cells").glob(f"{dataset or '*'}/*.json")):
        rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
        owner = rows[0]["model"] if rows else None
        if owner in cells:
            cells[owner].append(path)
    missing = [model for model, paths in cells.items() if not paths]
    if missing:
        where = f"{results_dir}" + (f" for dataset {dataset!r}" if dataset else "")
        known = ", ".join(stored_models(results_dir)) or "none"
        raise ZooError(f"no results for {', '.join(missing)} in {where}; models there: {known}")
    deleted = []
    for path in (p for paths in cells.values() for p in paths):
        path.unlink()
        deleted.append(path)
    for path in deleted[:]:
        grid = results_dir / "grids" / path.parent.name / f"{path.stem}.png"
        if grid.exists():
            grid.unlink()
            deleted.append(grid)
    ResultStore(results_dir).write_table()
    return deleted
