"""Removing results from a results folder without hand-editing files (``zoo results drop``).

* A model's results are its cell files (``cells/<dataset>/<model>-s<seed>.json``, and a sweep's
  ``<model>~t<trial>-s<seed>.json``, recognised by the model their rows name, not by their file name), its sample
  grids (``grids/<dataset>/<cell>.png``) and its failure records (``failures/<dataset>/<cell>.json``, by the model
  they name): :func:`drop_models`.
* :func:`drop_failures` removes failure records only (all, a dataset's or some models'), such as those of an
  earlier attempt on a dataset that no longer exists; the next bench tries those cells again as it would anyway.
* :func:`drop_uninstalled` removes what no loaded plugin provides any more (:func:`uninstalled`): the results of
  models no plugin registers; everything of a dataset no plugin registers (its cells, the real-data floor included,
  grids and failure records); and the rows of protocols whose extractor no plugin registers, taken out of each cell
  file that holds them (a cell left without rows is deleted, with its grid).

Each file goes in one ``unlink`` or one atomic rewrite, the cell files first; then ``results.csv`` is rewritten
atomically. A drop cut short leaves every file whole and is finished by running it again. The report is the
caller's to rewrite (:func:`zoo.report.write_report`, as ``zoo results drop`` does).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.fileio import write_json
from zoo.plugins import ZOO_DISTRIBUTION, Registry
from zoo.results.store import IMAGE_FOLDERS, REAL_DATA, TRAVERSALS, Cell, ResultStore, read_cell


def stored_models(results_dir: Path) -> list[str]:
    """The models with rows or failure records in ``results_dir`` (without the real-data floor), sorted."""
    store = ResultStore(results_dir)
    return sorted((set(store.rows()["model"]) | {f["model"] for f in store.failures()}) - {REAL_DATA})


@dataclass(frozen=True)
class Uninstalled:
    """What a results folder holds that no loaded plugin provides: ``models`` and ``datasets`` no plugin registers,
    and ``protocols`` (id -> extractor name) whose extractor none registers."""

    models: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    protocols: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.models or self.datasets or self.protocols)

    def __str__(self) -> str:
        parts = [
            f"model {', '.join(self.models)}" if self.models else "",
            f"dataset {', '.join(self.datasets)}" if self.datasets else "",
            ", ".join(f"protocol {pid} (extractor {name})" for pid, name in self.protocols.items()),
        ]
        return "; ".join(part for part in parts if part)


@dataclass(frozen=True)
class Dropped:
    """What :func:`drop_uninstalled` did: what it found ``gone``, the files it ``deleted`` and the cell files it
    ``rewrote`` without the rows of gone protocols."""

    gone: Uninstalled
    deleted: list[Path]
    rewrote: list[Path]


def uninstalled(results_dir: Path, registry: Registry, *, dataset: str | None = None) -> Uninstalled:
    """What ``results_dir`` (its ``dataset`` only, when given) holds that no plugin of ``registry`` provides.

    A dataset counts as uninstalled when no plugin registers its name and its cells were not made by zoo's own
    distribution: an image folder (``folder-...``) is made by zoo for each command and is never registered.
    """
    cells = {path: read_cell(path) for path in _cell_paths(results_dir, dataset or "*")}
    failures = list(_failures_in(ResultStore(results_dir), dataset))
    made_by: dict[str, set[str | None]] = {}
    for name, record in [
        *((path.parent.name, cell) for path, cell in cells.items()),
        *((f["dataset"], f) for f in failures),
    ]:
        made_by.setdefault(name, set()).add(record.get("key", {}).get("dataset_plugin", {}).get("distribution"))
    datasets = sorted(
        d for d, makers in made_by.items() if d not in registry.datasets and ZOO_DISTRIBUTION not in makers
    )
    models = {row["model"] for cell in cells.values() for row in cell["rows"]} | {f["model"] for f in failures}
    protocols = {
        pid: record["extractor"]
        for path, cell in cells.items()
        if path.parent.name not in datasets
        for pid, record in cell.get("protocols", {}).items()
        if "extractor" in record and record["extractor"] not in registry.extractors
    }
    return Uninstalled(sorted(models - {REAL_DATA} - set(registry.models)), datasets, dict(sorted(protocols.items())))


def drop_models(results_dir: Path, models: list[str], *, dataset: str | None = None) -> list[Path]:
    """Delete the cells, sample grids and failure records of ``models`` (on ``dataset`` only, when given) from
    ``results_dir``, then rebuild ``results.csv``. Returns the files deleted.

    Raises :class:`ZooError`, deleting nothing, when a name is the real-data floor or has nothing there."""
    results_dir = Path(results_dir)
    if REAL_DATA in models:
        raise ZooError(f"{REAL_DATA} is each dataset's floor, not a model; it cannot be dropped")
    cells, failures = _model_files(results_dir, models, dataset)
    missing = [model for model in models if not cells[model] and not failures[model]]
    if missing:
        where = f"{results_dir}" + (f" for dataset {dataset!r}" if dataset else "")
        known = ", ".join(stored_models(results_dir)) or "none"
        raise ZooError(f"no results for {', '.join(missing)} in {where}; models there: {known}")
    deleted = _delete_cells(results_dir, [p for paths in cells.values() for p in paths])
    deleted += _delete([p for paths in failures.values() for p in paths])
    ResultStore(results_dir).write_table()
    return deleted


def drop_failures(results_dir: Path, models: list[str] | None = None, *, dataset: str | None = None) -> list[Path]:
    """Delete the failure records of ``models`` (None: of every model) on ``dataset`` (None: on every dataset) from
    ``results_dir``; cells and grids are kept. Returns the files deleted (none is not an error)."""
    store = ResultStore(results_dir)
    return _delete(
        [
            store.failure_path(Cell.of(record))
            for record in _failures_in(store, dataset)
            if models is None or record["model"] in models
        ]
    )


def drop_uninstalled(results_dir: Path, registry: Registry, *, dataset: str | None = None) -> Dropped:
    """Remove from ``results_dir`` (its ``dataset`` only, when given) what :func:`uninstalled` finds: the datasets'
    files, the models' cells, grids and failure records, the protocols' rows; then rebuild ``results.csv``."""
    results_dir = Path(results_dir)
    gone = uninstalled(results_dir, registry, dataset=dataset)
    deleted = _delete_cells(results_dir, [p for d in gone.datasets for p in _cell_paths(results_dir, d)])
    for name in gone.datasets:
        for folder in (*IMAGE_FOLDERS, TRAVERSALS, "failures"):
            deleted += _delete(sorted((results_dir / folder / name).glob("*")))
        for folder in ("cells", *IMAGE_FOLDERS, TRAVERSALS, "failures"):
            with contextlib.suppress(OSError):  # absent, or holding what a drop does not own: left as it is
                (results_dir / folder / name).rmdir()
    cells, failures = _model_files(results_dir, gone.models, dataset)
    deleted += _delete_cells(results_dir, [p for paths in cells.values() for p in paths])
    deleted += _delete([p for paths in failures.values() for p in paths])
    rewrote = []
    for path in _cell_paths(results_dir, dataset or "*") if gone.protocols else []:
        data = read_cell(path)
        kept = [row for row in data["rows"] if row["protocol_id"] not in gone.protocols]
        if len(kept) == len(data["rows"]):
            continue
        if not kept:
            deleted += _delete_cells(results_dir, [path])
            continue
        protocols = {pid: record for pid, record in data.get("protocols", {}).items() if pid not in gone.protocols}
        write_json(path, {**data, "rows": kept, "protocols": protocols})
        rewrote.append(path)
    ResultStore(results_dir).write_table()
    return Dropped(gone, deleted, rewrote)


def _cell_paths(results_dir: Path, dataset: str) -> list[Path]:
    """The cell files of ``dataset`` (a glob pattern: ``*`` for every dataset), sorted."""
    return sorted((Path(results_dir) / "cells").glob(f"{dataset}/*.json"))


def _model_files(
    results_dir: Path, models: list[str], dataset: str | None
) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    """Each model's cell files and failure records (on ``dataset`` only, when given)."""
    store = ResultStore(results_dir)
    cells: dict[str, list[Path]] = {model: [] for model in models}
    for path in _cell_paths(results_dir, dataset or "*"):
        rows = read_cell(path)["rows"]
        owner = rows[0]["model"] if rows else None
        if owner in cells:
            cells[owner].append(path)
    failures: dict[str, list[Path]] = {model: [] for model in models}
    for record in _failures_in(store, dataset):
        if record["model"] in failures:
            failures[record["model"]].append(store.failure_path(Cell.of(record)))
    return cells, failures


def _failures_in(store: ResultStore, dataset: str | None) -> Iterator[dict[str, Any]]:
    return (record for record in store.failures() if dataset in (None, record["dataset"]))


def _delete_cells(results_dir: Path, paths: list[Path]) -> list[Path]:
    """Delete cell files, then their sample grids, neighbour pairs and traversal grids; returns the files deleted."""
    deleted = _delete(paths)
    grids = [Path(results_dir) / f / path.parent.name / f"{path.stem}.png" for path in paths for f in IMAGE_FOLDERS]
    traversals = [t for p in paths for t in (Path(results_dir) / TRAVERSALS / p.parent.name).glob(f"{p.stem}-*.png")]
    return deleted + _delete([grid for grid in grids if grid.exists()]) + _delete(traversals)


def _delete(paths: list[Path]) -> list[Path]:
    for path in paths:
        path.unlink()
    return list(paths)
