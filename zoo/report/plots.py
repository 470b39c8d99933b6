"""Figures of the results long table, for leaderboard.md and the HTML report: small PNGs, fit to commit.

Every function takes rows of the long table (:data:`zoo.results.COLUMNS`) of ONE dataset under ONE
evaluation protocol (what :func:`zoo.report.leaderboard.select` returns) and raises :class:`ZooError` on a
frame that mixes datasets or protocols. Figures are drawn on matplotlib's Agg canvas (no display, no pyplot
state) under matplotlib's default style (a user's matplotlibrc changes nothing), and saved atomically as PNGs
without timestamps: the same rows give the same bytes under the same matplotlib and Pillow versions.

The seed spread is ``"std"`` (mean ± one sample standard deviation, the leaderboard tables' convention) or
``"range"`` (min to max over seeds); each figure says which.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import pandas as pd
from matplotlib import colormaps, font_manager, style, ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from zoo.errors import ZooError
from zoo.fileio import atomic_path
from zoo.options import LOWER_IS_BETTER
from zoo.report.budgets import AXES
from zoo.report.flags import is_class_share, thresholds
from zoo.report.rows import check_single_protocol, final_rows
from zoo.report.values import SCALES, label, listed
from zoo.results import REAL_DATA

Spread = Literal["std", "range"]
DPI = 100
PANELS_PER_ROW = 5
"""At most this many panels per row of the final-metrics figure, so that it stays readable at a page's width."""
_SPREAD_TEXT = {"std": "± 1 std over seeds", "range": "min–max over seeds"}
_STYLE = {
    "font.size": 9, "axes.titlesize": 10, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "grid.alpha": 0.3, "legend.fontsize": 8, "legend.frameon": False,
}  # fmt: skip


def curve_figure(
    frame: pd.DataFrame, metric: str = "fid", spread: Spread = "std", axes: Sequence[str] = tuple(AXES)
) -> Figure:
    """``metric`` against each budget axis of ``axes`` (columns of the long table, :data:`~zoo.report.budgets.AXES`:
    generator steps, images seen, training seconds; a log x axis each), one panel per axis sharing the y axis: one
    line per model through the mean over seeds at each evaluated step, with a band and error bars for the seed
    spread, and the real-data floor as a dashed horizontal line. The y axis is logarithmic when every value is
    positive. Raises :class:`ZooError` when the frame mixes datasets or protocols, or holds no ``ok`` value of
    ``metric`` for any model."""
    rows = _ok(_one_section(frame), metric)
    models = rows[rows["model"] != REAL_DATA]
    if models.empty:
        raise ZooError(f"no {metric} values to plot")
    colors = _colors(frame)
    floor = rows.loc[rows["model"] == REAL_DATA, "value"]
    with _style():
        figure = Figure(figsize=(1.8 + 3.4 * len(axes), 3.6), dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        panels = figure.subplots(1, len(axes), sharey=True, squeeze=False)[0]
        for panel, axis in zip(panels, axes, strict=True):
            for model, cell in models.groupby("model"):
                x = cell.groupby("step")[axis].mean()
                mean, low, high = _spread(cell.groupby("step")["value"], spread)
                seeds = int(cell["seed"].nunique())
                name = f"{model} ({seeds} seed{'s' if seeds != 1 else ''})"
                panel.errorbar(x, mean, yerr=[mean - low, high - mean], color=colors[model], marker="o",
                               markersize=4, capsize=3, linewidth=1.6, label=name)  # fmt: skip
                panel.fill_between(x, low, high, color=colors[model], alpha=0.15, linewidth=0)
            if not floor.empty:
                panel.axhline(floor.mean(), color="0.35", linestyle="--", linewidth=1,
                              label=f"{REAL_DATA} floor ({floor.mean():.3g})")  # fmt: skip
            panel.set_xscale("log")
            if (rows["value"] > 0).all():
                panel.set_yscale("log")
            for scale in (panel.xaxis, panel.yaxis) if panel.get_yscale() == "log" else (panel.xaxis,):
                scale.set_major_formatter(ticker.StrMethodFormatter("{x:g}"))
                low, high = scale.get_view_interval()
                crowded = scale is panel.xaxis and high > 100 * low  # over two decades 2x and 5x labels collide
                scale.set_minor_formatter(ticker.NullFormatter() if crowded else ticker.FuncFormatter(_two_and_five))
            panel.set_xlabel(f"{AXES[axis]} (log scale)")
        panels[0].set_ylabel(f"{label(metric)}{_direction(metric, ' — lower is better', ' — higher is better')}")
        against = listed([AXES[axis] for axis in axes])
        figure.suptitle(f"{label(metric)} against {against} — {_title(frame)}")
        panels[-1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title=f"mean, {_SPREAD_TEXT[spread]}")
    return figure


def final_metrics_figure(frame: pd.DataFrame, metrics: Sequence[str] | None = None, spread: Spread = "std") -> Figure:
    """One panel per metric, at most :data:`PANELS_PER_ROW` to a row (default: every metric in the frame but the
    ``*_std`` companions, the leaderboard's first, then any others): each model's value at its final step, mean over
    seeds with error bars for the seed spread, the real-data floor as a dashed line. Models are ordered best
    first by the first panel's metric; a model without a value is marked ``n/a``, a metric without any value
    (``unavailable`` everywhere) ``unavailable``. Raises
    :class:`ZooError` when the frame mixes datasets or protocols or holds no model rows."""
    rows = final_rows(_one_section(frame))
    metrics = list(metrics or _metrics(rows))
    models = _ranked(rows, metrics[0] if metrics else "")
    if not models or not metrics:
        raise ZooError("no final metrics to plot")
    colors = _colors(frame)
    floor = _ok(rows, None)
    lines = thresholds(floor[floor["model"] == REAL_DATA].groupby("metric")["value"].mean().to_dict())
    with _style():
        rows_of_panels = -(-len(metrics) // PANELS_PER_ROW)
        columns = -(-len(metrics) // rows_of_panels)  # balanced: eight metrics make two rows of four
        size = (0.9 + 2.1 * columns, rows_of_panels * (0.6 + 0.32 * len(models)) + 0.3)
        figure = Figure(figsize=size, dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        grid = figure.subplots(rows_of_panels, columns, sharey=True, squeeze=False)
        for spare in grid.flat[len(metrics) :]:
            spare.remove()
        panels = grid.flat[: len(metrics)]
        for axes, metric in zip(panels, metrics, strict=True):
            values = _ok(rows, metric)
            scale = SCALES.get(metric, 1.0)
            axes.set_title(f"{label(metric)}{_direction(metric, ' ↓', ' ↑')}")
            axes.grid(axis="y", visible=False)
            axes.tick_params(axis="y", length=0)
            if values.empty:
                axes.set_xticks([])
                axes.text(0.5, 0.5, "unavailable", transform=axes.transAxes, ha="center", va="center", color="0.4")
                continue
            for y, model in enumerate(models):
                cell = values[values["model"] == model]
                if cell.empty:
                    axes.text(0, y, " n/a", va="center", ha="left", color="0.5", fontsize=8)
                    continue
                mean, low, high = (float(s.iloc[0]) * scale for s in _spread(cell.groupby("model")["value"], spread))
                axes.barh(y, mean, xerr=[[mean - low], [high - mean]], color=colors[model], height=0.65, capsize=2)
                axes.annotate(_number(mean), (max(high, 0), y), xytext=(3, 0), textcoords="offset points",
                              va="center", fontsize=7, color="0.25")  # fmt: skip
            floor = values.loc[values["model"] == REAL_DATA, "value"]
            if not floor.empty:
                axes.axvline(floor.mean() * scale, color="0.35", linestyle="--", linewidth=1)
            if metric in lines:
                axes.axvline(lines[metric] * scale, color="tab:red", linestyle=":", linewidth=1.2)
            axes.margins(x=0.22)
        panels[0].set_yticks(range(len(models)), models)
        panels[0].invert_yaxis()
        for first in grid[1:, 0]:  # sharey shows the names on the first panel of each row only
            first.tick_params(axis="y", labelleft=True)
        warned = "; dotted red: warning threshold" if set(lines) & set(metrics) else ""
        figure.suptitle(
            f"Final metrics — {_title(frame)}\nbars: mean, {_SPREAD_TEXT[spread]}; dashed: {REAL_DATA}{warned}"
        )
    return figure


def save_png(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` to ``path`` as a PNG at :data:`DPI`, atomically and without a timestamp or software tag."""
    with atomic_path(path) as tmp, _style():
        figure.savefig(tmp, format="png", dpi=DPI, facecolor="white", metadata={"Software": None})
    return Path(path)


def plot_curve(frame: pd.DataFrame, path: str | Path, metric: str = "fid", spread: Spread = "std") -> Path:
    """:func:`curve_figure` written to ``path`` (see :func:`save_png`)."""
    return save_png(curve_figure(frame, metric, spread), path)


def plot_final_metrics(
    frame: pd.DataFrame, path: str | Path, metrics: Sequence[str] | None = None, spread: Spread = "std"
) -> Path:
    """:func:`final_metrics_figure` written to ``path`` (see :func:`save_png`)."""
    return save_png(final_metrics_figure(frame, metrics, spread), path)


def plot_sample_grids(
    grid_dir: str | Path, path: str | Path, models: Sequence[str] | None = None, seed: int = 0, columns: int = 5
) -> Path | None:
    """Compose the grids ``<grid_dir>/<model>-s<seed>.png`` side by side (``columns`` per row, pixels unscaled),
    each under its model's name, into one PNG at ``path``, written atomically. ``models`` gives the order
    (default: every such grid, by name); a model without a grid is left out. Returns ``path``, or None (and
    writes nothing) when no grid exists. Grey-only grids are stored as greyscale, to keep the file small."""
    suffix = f"-s{seed}.png"
    found = sorted(p.name[: -len(suffix)] for p in Path(grid_dir).glob(f"*{suffix}"))
    names = [m for m in (found if models is None else models) if (Path(grid_dir) / f"{m}{suffix}").is_file()]
    if not names:
        return None
    images = [Image.open(Path(grid_dir) / f"{m}{suffix}").convert("RGB") for m in names]
    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), 15)
    pad, title = 12, 24
    width, height = max(i.width for i in images), max(i.height for i in images)
    columns = min(columns, len(images))
    rows = -(-len(images) // columns)
    canvas = Image.new("RGB", (pad + columns * (width + pad), pad + rows * (title + height + pad)), "white")
    draw = ImageDraw.Draw(canvas)
    for index, (model, image) in enumerate(zip(names, images, strict=True)):
        left, top = pad + (index % columns) * (width + pad), pad + (index // columns) * (title + height + pad)
        draw.text((left + width // 2, top + title // 2), model, fill="black", font=font, anchor="mm")
        canvas.paste(image, (left + (width - image.width) // 2, top + title))
    grey = canvas.convert("L")
    with atomic_path(path) as tmp:
        (grey if grey.convert("RGB").tobytes() == canvas.tobytes() else canvas).save(tmp, format="PNG", optimize=True)
    return Path(path)


def _one_section(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        raise ZooError("no results to plot")
    datasets = sorted(frame["dataset"].dropna().unique())
    if len(datasets) > 1:
        raise ZooError(f"refusing to plot different datasets together: {', '.join(datasets)}")
    check_single_protocol(frame)
    return frame


def _ok(rows: pd.DataFrame, metric: str | None) -> pd.DataFrame:
    """The ``ok`` rows of ``metric`` (of every metric for None)."""
    ok = rows[rows["status"] == "ok"]
    return ok if metric is None else ok[ok["metric"] == metric]


def _spread(values: pd.api.typing.SeriesGroupBy, spread: Spread) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Mean, low and high per group; the std of a single seed counts as 0."""
    mean = values.mean()
    if spread == "range":
        return mean, values.min(), values.max()
    if spread != "std":
        raise ValueError(f"spread must be 'std' or 'range', not {spread!r}")
    std = values.std().fillna(0.0)
    return mean, mean - std, mean + std


def _metrics(rows: pd.DataFrame) -> list[str]:
    present = set(rows.loc[rows["status"].isin(["ok", "unavailable"]), "metric"].dropna())
    extra = sorted(m for m in present - set(LOWER_IS_BETTER) if not m.endswith("_std") and not is_class_share(m))
    return [m for m in LOWER_IS_BETTER if m in present] + extra


def _ranked(rows: pd.DataFrame, metric: str) -> list[str]:
    models = sorted(set(rows["model"].dropna()) - {REAL_DATA})
    means = _ok(rows, metric).groupby("model")["value"].mean()
    sign = -1 if LOWER_IS_BETTER.get(metric) is False else 1
    return sorted(models, key=lambda m: (m not in means, sign * means.get(m, 0.0), m))


def _colors(frame: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
    """Each model's colour, the same in every figure of a frame: tab10 by name, then tab20's light shades."""
    palette = [*colormaps["tab10"].colors, *colormaps["tab20"].colors[1::2]]
    return {m: palette[i % len(palette)] for i, m in enumerate(sorted(set(frame["model"].dropna()) - {REAL_DATA}))}


def _two_and_five(value: float, _position: int) -> str:
    """Label a log axis' minor ticks at 2 and 5 times a power of ten (plain numbers, no exponents)."""
    return f"{value:g}" if value > 0 and round(value / 10 ** math.floor(math.log10(value))) in (2, 5) else ""


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _direction(metric: str, lower: str, higher: str) -> str:
    known = LOWER_IS_BETTER.get(metric)
    return "" if known is None else lower if known else higher


def _title(frame: pd.DataFrame) -> str:
    scored = frame[frame["protocol"].notna() & (frame["protocol"] != "")]
    protocol = scored["protocol"].iloc[0] if not scored.empty else "no protocol"
    return f"{frame['dataset'].iloc[0]}, protocol {protocol}"


@contextlib.contextmanager
def _style() -> Iterator[None]:
    with style.context(["default", _STYLE]):
        yield
