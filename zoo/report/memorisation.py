"""The cell of a dataset that copies its training images most, and its nearest-neighbour figure.

A cell's copy shares (``copy_share_features``, ``copy_share_pixels``: the share of its samples closer to their
nearest training image than the 5% quantile of held-out real images' nearest-training distances) are judged by
:mod:`zoo.report.flags`; the report shows the pairs of the cell with the highest of them, from the figure the bench
writes beside the cell: ``neighbours/<dataset>/<model>-s<seed>.png`` (each sample closest to the training set beside
its nearest training image, a pair a row).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from zoo.report.flags import COPY_METRICS
from zoo.report.values import label
from zoo.results import REAL_DATA, Cell, neighbours_path


@dataclass(frozen=True)
class Copier:
    """The cell with the highest copy share of one dataset's board, and its figure."""

    cell: Cell
    shares: dict[str, float]
    """Copy metric -> the cell's share."""
    floor: dict[str, float]
    """Copy metric -> the real-data floor's share (absent when the floor has none)."""
    figure: Path

    @property
    def caption(self) -> str:
        measured = ", ".join(
            f"{label(m)} {v:.3g}" + (f" against real data's {self.floor[m]:.3g}" if m in self.floor else "")
            for m, v in self.shares.items()
        )
        return (
            f"Nearest training images — {self.cell.model}, seed {self.cell.seed}, the {self.cell.dataset} cell with "
            f"the highest copy share ({measured}): each of its samples closest to the training set beside its "
            "nearest training image, a pair a row"
        )


def worst_copier(results_dir: Path, final: pd.DataFrame) -> Copier | None:
    """The model cell of ``final`` (final rows of one dataset under one protocol) with the highest copy share (the
    larger of its two), when its figure exists under ``results_dir``; None without copy shares or figure."""
    ok = final[(final["status"] == "ok") & final["metric"].isin(COPY_METRICS)]
    models = ok[ok["model"] != REAL_DATA]
    if models.empty:
        return None
    top = models.iloc[models["value"].to_numpy().argmax()]
    cell = Cell(str(top["model"]), str(top["dataset"]), int(top["seed"]))
    figure = neighbours_path(results_dir, cell)
    if not figure.is_file():
        return None
    mine = models[(models["model"] == cell.model) & (models["seed"] == cell.seed)]
    floor = ok[ok["model"] == REAL_DATA]
    return Copier(cell, _by_metric(mine), _by_metric(floor), figure)


def _by_metric(rows: pd.DataFrame) -> dict[str, float]:
    """Copy metric -> the value of ``rows`` (one row per metric), in :data:`~zoo.report.flags.COPY_METRICS` order."""
    values = dict(zip(rows["metric"], rows["value"], strict=True))
    return {m: float(values[m]) for m in COPY_METRICS if m in values}
