"""Leaderboards from the long results table: one per dataset and evaluation protocol, never mixing protocols.

Each model's figure is the mean ± sample standard deviation over its seeds, at each cell's final step. A value is
bold only when it is clearly the best of its column (:data:`BOLD_RULE`). The real-vs-real floor row shows what the
training images themselves score. A model whose samples miss classes (collapse) or, when conditional, ignore
their labels is flagged in a ``warnings`` column and by :func:`warnings_of`, never left to be read off a grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import pandas as pd

from zoo.errors import ZooError
from zoo.options import LOWER_IS_BETTER
from zoo.results import REAL_DATA

LABELS = {
    "fid": "FID",
    "kid_mean": "KID ×10³",
    "is_mean": "IS",
    "precision": "precision",
    "recall": "recall",
    "class_entropy": "class entropy",
    "min_class_share": "min class share",
    "label_accuracy": "label accuracy",
    "code_accuracy": "code accuracy",
}
_SCALE = {"kid_mean": 1e3}
BOLD_RULE = (
    "Bold marks a column's best model only when it is clear of the runner-up: not tied at the precision "
    "shown, and its mean ± std does not overlap the runner-up's; a tie (several models at precision 0, say) or a "
    "lead within the seed spread gets no bold at all"
)


class Check(NamedTuple):
    """A per-seed health check of a model's final samples: flagged when ``metric`` is below ``threshold``."""

    metric: str
    threshold: float
    short: str
    meaning: str


CHECKS = (
    Check("min_class_share", 0.05, "collapsed", "collapsed: some class gets under 5% of its samples"),
    Check("label_accuracy", 0.95, "label accuracy < 95%", "ignores its labels too often: label accuracy under 95%"),
)
"""What the leaderboard flags; classes are judged by the protocol's domain classifier."""


def final_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of each cell's last evaluated step; a diverged cell keeps only its ``diverged`` row."""
    cell = ["model", "dataset", "seed"]
    diverged = frame.groupby(cell, dropna=False)["status"].transform(lambda s: (s == "diverged").any())
    last = frame.groupby(cell, dropna=False)["step"].transform("max")
    return frame[(diverged & (frame["status"] == "diverged")) | (~diverged & (frame["step"] == last))]


def sections(frame: pd.DataFrame, datasets: Sequence[str] = ()) -> list[tuple[str, str, str]]:
    """``(dataset, protocol id, protocol name)`` of every leaderboard ``frame`` holds, one per dataset and protocol:
    the ``datasets`` named (a profile's, in its order) first, then the others by name."""
    scored = frame[frame["protocol_id"] != ""]
    found = [(d, pid, rows["protocol"].iloc[0]) for (d, pid), rows in scored.groupby(["dataset", "protocol_id"])]
    rank = {name: i for i, name in enumerate(datasets)}
    return sorted(found, key=lambda section: rank.get(section[0], len(rank)))


def select(frame: pd.DataFrame, *, dataset: str, protocol_id: str) -> pd.DataFrame:
    """``dataset``'s rows under ``protocol_id``, with its diverged rows (which belong to no protocol)."""
    return frame[
        (frame["dataset"] == dataset) & ((frame["protocol_id"] == protocol_id) | (frame["status"] == "diverged"))
    ]


def leaderboard(frame: pd.DataFrame, *, dataset: str, protocol_id: str, metric: str | None = None) -> pd.DataFrame:
    """One ranked table (string cells, ready to print) for ``dataset`` under one protocol, ranked by ``metric``
    (default: the first of :data:`LOWER_IS_BETTER` that is available).

    Columns: model, its metrics, ``warnings`` (only when some model is flagged by :data:`CHECKS`), seeds, steps,
    images seen, train s, img/s, G params, and ``plugin`` (the distribution and version that made the rows)."""
    rows = select(frame, dataset=dataset, protocol_id=protocol_id)
    if rows.empty:
        raise ZooError(f"no results for dataset {dataset!r} under protocol {protocol_id}")
    return _table(final_rows(rows), metric)


def warnings_of(frame: pd.DataFrame, *, dataset: str, protocol_id: str) -> list[str]:
    """One plain sentence per model and failed :data:`CHECKS` entry, e.g. ``vanilla_gan collapsed: some class gets
    under 5% of its samples, in 3 of 3 seeds (min class share 0.004 ± 0.002)``; empty when every model passes or
    the metrics are absent."""
    rows = final_rows(select(frame, dataset=dataset, protocol_id=protocol_id))
    return [sentence for flags in _flags(rows).values() for _, sentence in flags]


def budget_summary(frame: pd.DataFrame, *, dataset: str, protocol_id: str) -> str:
    """The budgets ``dataset``'s models actually got under this protocol, measured: steps per model, and the
    training seconds per model (mean over seeds at the final step) with the slowest-to-fastest ratio."""
    rows = final_rows(select(frame, dataset=dataset, protocol_id=protocol_id))
    models = rows[rows["model"] != REAL_DATA]
    if models.empty:
        return ""
    steps = models.groupby("model")["step"].max().astype(int)
    seconds = models[models["status"] == "ok"].groupby("model")["train_seconds"].mean().dropna().sort_values()
    text = (
        f"steps: {steps.iloc[0]} for every model"
        if steps.nunique() == 1
        else "steps: " + ", ".join(f"{m} {s}" for m, s in steps.items())
    )
    if len(seconds) > 1 and seconds.iloc[0] > 0:
        listed = ", ".join(f"{m} {_seconds(s)}" for m, s in seconds.items())
        ratio = seconds.iloc[-1] / seconds.iloc[0]
        text += f"; training seconds (mean over seeds): {listed}; slowest/fastest = {ratio:.2g}×"
    return text


def check_single_protocol(frame: pd.DataFrame) -> None:
    """Refuse a frame whose rows come from more than one protocol."""
    ids = sorted(i for i in frame["protocol_id"].unique() if isinstance(i, str) and i)
    if len(ids) > 1:
        raise ZooError(f"refusing to rank results of different protocols together: {', '.join(ids)}")


def _table(rows: pd.DataFrame, rank_by: str | None = None) -> pd.DataFrame:
    check_single_protocol(rows)
    ok = rows[rows["status"] == "ok"]
    stats = ok.groupby(["model", "metric"])["value"].agg(["mean", "std", "count"]).reset_index()
    cost = (
        rows[rows["model"] != REAL_DATA]
        .groupby("model")
        .agg(
            seeds=("seed", "nunique"),
            step=("step", "max"),
            images_seen=("images_seen", "max"),
            train_seconds=("train_seconds", "mean"),
            images_per_second=("images_per_second", "mean"),
            params_generator=("params_generator", "first"),
        )
    )
    diverged = rows[rows["status"] == "diverged"].groupby("model")["step"].agg(list)
    flags = _flags(rows)
    metrics = [m for m in LOWER_IS_BETTER if m in set(stats["metric"])]
    models = sorted(set(rows["model"]) - {REAL_DATA})
    best = {m: _best(stats, m) for m in metrics}

    table = []
    for model in ([REAL_DATA] if REAL_DATA in set(rows["model"]) else []) + models:
        line: dict[str, str] = {"model": model}
        for metric in metrics:
            line[LABELS[metric]] = _cell(stats, model, metric, bold=model == best[metric])
        if flags:
            line["warnings"] = "; ".join(short for short, _ in flags.get(model, []))
        if model == REAL_DATA:
            line.update({"seeds": "", "steps": "", "images seen": "", "train s": "", "img/s": "", "G params": ""})
        else:
            c = cost.loc[model]
            failed = diverged.get(model, [])
            note = f" ({len(failed)} diverged, at step {', '.join(str(int(s)) for s in failed)})" if failed else ""
            line["seeds"] = f"{int(c.seeds) - len(failed)} of {int(c.seeds)}{note}"
            line["steps"] = f"{int(c.step)}"
            line["images seen"] = f"{int(c.images_seen):,}"
            line["train s"] = "" if pd.isna(c.train_seconds) else _seconds(c.train_seconds)
            line["img/s"] = _number(c.images_per_second, "{:.0f}")
            line["G params"] = _number(c.params_generator, "{:,.0f}")
        line["plugin"] = _plugins(rows[rows["model"] == model])
        table.append(line)
    ranked = pd.DataFrame(table)
    rank_by = rank_by or (metrics[0] if metrics else None)
    if rank_by in metrics and models:  # the floor first, then models by the ranking metric, missing ones last
        key = stats[stats["metric"] == rank_by].set_index("model")["mean"]
        sign = 1 if LOWER_IS_BETTER[rank_by] else -1
        order = sorted(models, key=lambda m: sign * key[m] if m in key else float("inf"))
        ranked = ranked.set_index("model").loc[[m for m in ranked["model"] if m == REAL_DATA] + order].reset_index()
    return ranked


def _flags(rows: pd.DataFrame) -> dict[str, list[tuple[str, str]]]:
    """Model -> ``(short, sentence)`` per failed check, from its final rows (one value per seed)."""
    ok = rows[(rows["status"] == "ok") & (rows["model"] != REAL_DATA)]
    flags: dict[str, list[tuple[str, str]]] = {}
    for check in CHECKS:
        for model, values in ok[ok["metric"] == check.metric].groupby("model")["value"]:
            failed, seeds = int((values < check.threshold).sum()), len(values)
            if failed:
                spread = f" ± {values.std():.2g}" if seeds > 1 else ""
                sentence = (
                    f"{model} {check.meaning}, in {failed} of {seeds} seed{'s' if seeds > 1 else ''} "
                    f"({LABELS[check.metric]} {values.mean():.3g}{spread})"
                )
                flags.setdefault(model, []).append((f"{check.short} ({failed}/{seeds} seeds)", sentence))
    return flags


def _plugins(rows: pd.DataFrame) -> str:
    """The distinct ``distribution version`` pairs that made ``rows`` (more than one when a model's cells were
    made by different releases)."""
    found = dict.fromkeys(f"{p} {v}".strip() for p, v in zip(rows["plugin"], rows["plugin_version"], strict=True))
    return ", ".join(sorted(found))


def _number(value: float, form: str) -> str:
    return "" if pd.isna(value) else form.format(value)


def _seconds(value: float) -> str:
    """Whole seconds, or two significant digits under 10 s (a smoke run's cells take a fraction of one)."""
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def _best(stats: pd.DataFrame, metric: str) -> str | None:
    """The model to show in bold for ``metric`` under :data:`BOLD_RULE`, or None."""
    candidates = stats[(stats["metric"] == metric) & (stats["model"] != REAL_DATA)]
    if len(candidates) < 2:
        return None
    sign = 1 if LOWER_IS_BETTER[metric] else -1
    best, second = (row for _, row in candidates.assign(key=sign * candidates["mean"]).nsmallest(2, "key").iterrows())
    if _shown(metric, best["mean"]) == _shown(metric, second["mean"]):
        return None
    spread = _zero_if_nan(best["std"]) + _zero_if_nan(second["std"])
    return None if abs(best["mean"] - second["mean"]) <= spread else str(best["model"])


def _zero_if_nan(value: float) -> float:
    return 0.0 if pd.isna(value) else float(value)


def _shown(metric: str, value: float) -> str:
    return f"{value * _SCALE.get(metric, 1.0):.3g}"


def _cell(stats: pd.DataFrame, model: str, metric: str, bold: bool) -> str:
    found = stats[(stats["model"] == model) & (stats["metric"] == metric)]
    if found.empty:
        return "n/a"
    mean, std, count = found.iloc[0][["mean", "std", "count"]]
    text = _shown(metric, mean) + ("" if count < 2 else f" ± {std * _SCALE.get(metric, 1.0):.2g}")
    return f"**{text}**" if bold else text


def progress_table(frame: pd.DataFrame, *, dataset: str, protocol_id: str, metric: str = "fid") -> pd.DataFrame:
    """``metric`` (mean over seeds) at every evaluated step: rows are models, columns are steps."""
    rows = select(frame, dataset=dataset, protocol_id=protocol_id)
    check_single_protocol(rows)
    rows = rows[(rows["metric"] == metric) & (rows["status"] == "ok") & (rows["model"] != REAL_DATA)]
    table = rows.pivot_table(index="model", columns="step", values="value", aggfunc="mean")
    return table.map(lambda v: "" if pd.isna(v) else f"{v:.3g}")


def unavailable(frame: pd.DataFrame, *, dataset: str, protocol_id: str) -> dict[str, str]:
    """Metric -> the reason it could not be computed, for this dataset and protocol."""
    rows = select(frame, dataset=dataset, protocol_id=protocol_id)
    rows = rows[rows["status"] == "unavailable"]
    return dict(zip(rows["metric"], rows["reason"], strict=True))


def ranked_models(table: pd.DataFrame) -> list[str]:
    """The models of a :func:`leaderboard` table in its order, without the real-data floor."""
    return [m for m in table["model"] if m != REAL_DATA]
