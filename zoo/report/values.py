"""A metric's value over seeds as the report writes it: its label, ``mean ± std`` at the precision shown, and the
bold of a column's clear best (:data:`BOLD_RULE`).

Functions take the frame of :func:`zoo.report.rows.seed_stats` (model, metric, mean, std, count).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import pandas as pd

from zoo.options import LOWER_IS_BETTER
from zoo.results import REAL_DATA

LABELS = {
    "fid": "FID",
    "kid_mean": "KID ×10³",
    "swd": "SWD ×10³",
    "is_mean": "IS",
    "precision": "precision",
    "recall": "recall",
    "copy_share_features": "copies (features)",
    "copy_share_pixels": "copies (pixels)",
    "class_entropy": "class entropy",
    "min_class_share": "min class share",
    "label_accuracy": "label accuracy",
    "ifid": "iFID",
    "code_accuracy": "code accuracy",
}
"""Column names of the metrics (``swd`` is stored already multiplied by 10³)."""
SCALES = {"kid_mean": 1e3}
"""Display factors of the metrics whose label says so (``KID ×10³``)."""
BOLD_RULE = (
    "Bold marks a column's best model only when it is clear of the runner-up: not tied at the precision "
    "shown, and its mean ± std does not overlap the runner-up's; a tie (several models at precision 0, say) or a "
    "lead within the seed spread gets no bold at all"
)


def label(metric: str) -> str:
    """The column name of ``metric`` (its name with spaces for one without a label)."""
    return LABELS.get(metric, metric.replace("_", " "))


def shown(metric: str, value: float) -> str:
    """``value`` at the precision the tables show (three significant digits, scaled as labelled)."""
    return f"{value * SCALES.get(metric, 1.0):.3g}"


def value_text(stats: pd.DataFrame, model: str, metric: str, *, bold: bool = False) -> str:
    """``mean ± std`` of ``model``'s ``metric`` (the mean alone for one seed), ``**bold**`` if asked; ``n/a`` when
    ``stats`` has no value."""
    found = stats[(stats["model"] == model) & (stats["metric"] == metric)]
    if found.empty:
        return "n/a"
    mean, std, count = found.iloc[0][["mean", "std", "count"]]
    text = shown(metric, mean) + ("" if count < 2 else f" ± {std * SCALES.get(metric, 1.0):.2g}")
    return f"**{text}**" if bold else text


def clear_best(stats: pd.DataFrame, metric: str, models: Collection[str] | None = None) -> str | None:
    """The model to show in bold for ``metric`` under :data:`BOLD_RULE`, among ``models`` (default: every model of
    ``stats`` but the floor), or None."""
    candidates = stats[(stats["metric"] == metric) & (stats["model"] != REAL_DATA)]
    if models is not None:
        candidates = candidates[candidates["model"].isin(list(models))]
    if len(candidates) < 2:
        return None
    sign = 1 if LOWER_IS_BETTER.get(metric, True) else -1
    best, second = (row for _, row in candidates.assign(key=sign * candidates["mean"]).nsmallest(2, "key").iterrows())
    if shown(metric, best["mean"]) == shown(metric, second["mean"]):
        return None
    return str(best["model"]) if apart(best, second) else None


def apart(first: pd.Series, second: pd.Series) -> bool:
    """Whether two models' ``mean ± std`` (rows of the stats frame) do not overlap: their means differ by more than
    the sum of their standard deviations (the std of one seed counts as 0)."""
    spread = _zero_if_nan(first["std"]) + _zero_if_nan(second["std"])
    return bool(abs(first["mean"] - second["mean"]) > spread)


def listed(items: Sequence[str]) -> str:
    """``a``; ``a and b``; ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _zero_if_nan(value: float) -> float:
    return 0.0 if pd.isna(value) else float(value)
