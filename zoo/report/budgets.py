"""Every budget axis from the same cells: each model's FID at equal generator steps, at equal images seen and at
equal training seconds, and whether it was still improving when its budget ended.

The leaderboard's headline is each model's final step (the profile's budget rule). These tables answer the other
questions from the FID each cell recorded at its evaluated steps, for the model cells that did not diverge:

* equal steps: the last step every model was evaluated at (exact values, no interpolation);
* equal images seen and equal training seconds: the smallest final value of any cell, each cell's FID interpolated
  log-log between its two evaluated steps nearest to it (a cell first evaluated after that value has none).

Conditional models (:func:`zoo.report.rows.conditional_models`) come after the unconditional ones, ranked apart and
never bold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from zoo.options import LOWER_IS_BETTER
from zoo.report.flags import STILL_IMPROVING
from zoo.report.rows import conditional_models, finished_rows
from zoo.report.values import clear_best, label, value_text

AXES = {"step": "generator steps", "images_seen": "images seen", "train_seconds": "training seconds"}
"""The budget axes (a column of the long table -> what it counts), in the order of the tables and the figure."""
LAST_DOUBLING = "FID over last doubling"
"""The headline tables' column saying how FID changed over each model's last doubling of steps."""
CONDITIONAL = " (conditional)"
"""Appended to a conditional model's name in the budget tables, whose rank it does not share."""


@dataclass(frozen=True)
class AxisTable:
    """``metric`` of every model at one common value of one budget axis."""

    axis: str
    """The column of the long table: ``step``, ``images_seen`` or ``train_seconds``."""
    at: float
    """The common value the models are compared at."""
    question: str
    """What the table answers, with how ``at`` was chosen (the table's caption)."""
    table: pd.DataFrame
    """Text cells: model, the metric (mean ± std over seeds, the clear best bold), and the steps it comes from."""


def axis_tables(rows: pd.DataFrame, metric: str = "fid") -> list[AxisTable]:
    """The tables at equal steps, equal images seen and equal training seconds of one board's ``rows`` (one dataset
    under one protocol), for the axes on which the models have a common value; empty without ``metric`` values."""
    curves = _curves(rows, metric)
    if curves.empty:
        return []
    conditional = conditional_models(rows)
    models = sorted(set(curves["model"]))
    apart = " Conditional models are ranked apart, after the others." if conditional else ""
    found = []
    common = set.intersection(*(set(steps) for _, steps in curves.groupby("model")["step"]))
    if common:
        step = int(max(common))
        at_step = curves[curves["step"] == step].assign(low=step, high=step)
        question = (
            f"Equal generator steps: {label(metric)} at step {step}, the last step every model was evaluated at. "
            f"Which architecture learns most per generator update?{apart}"
        )
        found.append(AxisTable("step", step, question, _table(at_step, metric, conditional, models, steps=False)))
    for axis, what, chosen, asks in (
        ("images_seen", "training images", "the fewest any cell saw", "learns most from the same number of images"),
        ("train_seconds", "s of training", "the shortest any cell trained", "is best for the same training time here"),
    ):
        usable = curves[curves[axis] > 0]  # a measure of 0 (or none) has no logarithm
        if usable.empty:
            continue
        at = float(usable.loc[usable.groupby(["model", "seed"])["step"].idxmax(), axis].min())
        values = [
            {"model": model, "seed": seed, **point}
            for (model, seed), cell in usable.groupby(["model", "seed"])
            if (point := _interpolated(cell, axis, at)) is not None
        ]
        shown = f"{at:,.0f}" if axis == "images_seen" else f"{at:.3g}"
        question = (
            f"Equal {AXES[axis]}: {label(metric)} after {shown} {what}, {chosen}, interpolated log-log between each "
            f"cell's two evaluated steps nearest to it. Which architecture {asks}?{apart}"
        )
        frame = pd.DataFrame(values, columns=["model", "seed", "value", "low", "high"])
        found.append(AxisTable(axis, at, question, _table(frame, metric, conditional, models, steps=True)))
    return found


def last_doubling(rows: pd.DataFrame, metric: str = "fid") -> dict[str, str]:
    """Model -> how its ``metric`` (mean over seeds) changed from the evaluated step closest to half its final step
    (on a log scale; the earlier of two as close) to the final one, e.g. ``-27% since step 1100, still improving``
    (a fall of more than :data:`~zoo.report.flags.STILL_IMPROVING`); models evaluated at one step only are left out."""
    curves = _curves(rows, metric).groupby(["model", "step"])["value"].mean()
    found = {}
    for model, curve in curves.groupby(level="model"):
        curve = curve.droplevel("model")
        final = int(curve.index.max())
        earlier = [int(s) for s in curve.index if 0 < s < final]
        if not earlier:
            continue
        half = min(earlier, key=lambda s: (abs(math.log(2 * s / final)), s))
        change = curve[final] / curve[half] - 1
        improving = ", still improving" if change < -STILL_IMPROVING else ""
        found[str(model)] = f"{change:+.0%} since step {half}{improving}"
    return found


def _curves(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The ``metric`` rows of the finished model cells: model, seed, step, images_seen, train_seconds, value."""
    curves = finished_rows(rows)
    curves = curves[curves["metric"] == metric][["model", "seed", *AXES, "value"]]
    types = {"seed": int, "step": int, "images_seen": float, "train_seconds": float, "value": float}
    return curves.astype(types).reset_index(drop=True)


def _interpolated(cell: pd.DataFrame, axis: str, at: float) -> dict[str, float] | None:
    """The cell's value at ``at`` on ``axis`` (exact at an evaluated point, else log-log between the two around
    it) with the steps it comes from (``low``, ``high``); None when the cell was first evaluated past ``at``."""
    cell = cell.sort_values("step")
    x, value, steps = cell[axis].to_numpy(), cell["value"].to_numpy(), cell["step"].to_numpy()
    high = int(np.searchsorted(x, at))
    if high < len(x) and math.isclose(x[high], at, rel_tol=1e-9):
        return {"value": float(value[high]), "low": int(steps[high]), "high": int(steps[high])}
    if high == 0 or high == len(x):
        return None
    low = high - 1
    t = math.log(at / x[low]) / math.log(x[high] / x[low])
    if value[low] > 0 and value[high] > 0:
        found = math.exp(math.log(value[low]) + t * math.log(value[high] / value[low]))
    else:  # a non-positive value has no logarithm: linear in the value, still log in the axis
        found = value[low] + t * (value[high] - value[low])
    return {"value": found, "low": int(steps[low]), "high": int(steps[high])}


def _table(values: pd.DataFrame, metric: str, conditional: set[str], models: list[str], steps: bool) -> pd.DataFrame:
    """Text table of one value per cell (``values``: model, seed, value, low, high) for ``models``: the
    unconditional ones ranked, then the conditional ones ranked apart; a model without a value last, as ``n/a``.
    With ``steps``, a column of the evaluated steps each model's value comes from."""
    stats = values.assign(metric=metric).groupby(["model", "metric"])["value"].agg(["mean", "std", "count"])
    stats = stats.reset_index()
    sign = 1 if LOWER_IS_BETTER.get(metric, True) else -1
    keys = (sign * stats.set_index("model")["mean"]).to_dict()
    unconditional = [m for m in models if m not in conditional]
    best = clear_best(stats, metric, unconditional)
    spans = values.groupby("model").agg(low=("low", "min"), high=("high", "max"))
    table = []
    for group in (unconditional, [m for m in models if m in conditional]):
        for model in sorted(group, key=lambda m: (m not in keys, keys.get(m, 0.0), m)):
            line = {
                "model": model + (CONDITIONAL if model in conditional else ""),
                label(metric): value_text(stats, model, metric, bold=model == best),
            }
            if steps:
                low, high = spans.loc[model] if model in spans.index else (None, None)
                line["from steps"] = (
                    "first evaluated later" if low is None else f"{low}" if low == high else f"{low}–{high}"
                )
            table.append(line)
    return pd.DataFrame(table)
