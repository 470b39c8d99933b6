"""Leaderboards from the long results table: one per dataset and evaluation protocol, never mixing protocols, and
conditional models apart.

Each model's figure is the mean ± sample standard deviation over its seeds, at each cell's final step. A conditional
model (:func:`~zoo.report.rows.conditional_models`) is given each sample's class, so its class balance comes from the
evaluation's labels rather than being learned: conditional models get a table of their own, and the table of the
others never ranks nor bolds them. A value is bold only when it is clearly the best of its column among its table's
models (:data:`BOLD_RULE`). The real-vs-real floor row shows what real images score. A model that collapses, misses
or under-represents classes, lacks diversity, copies its training images or, when conditional, ignores its labels
(:mod:`zoo.report.flags`) is flagged in a ``warnings`` column and by :func:`warnings_of`, never left to be read off a
grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from zoo.errors import ZooError
from zoo.options import LOWER_IS_BETTER
from zoo.report.budgets import LAST_DOUBLING, last_doubling
from zoo.report.flags import flags
from zoo.report.rows import (
    check_single_protocol,
    conditional_models,
    final_rows,
    sections,
    seed_stats,
    select,
)
from zoo.report.values import BOLD_RULE, LABELS, apart, clear_best, label, listed, value_text
from zoo.results import REAL_DATA

__all__ = [
    "BOLD_RULE",
    "CONDITIONAL_FIRST",
    "LABELS",
    "budget_summary",
    "check_single_protocol",
    "disagreements",
    "final_rows",
    "leaderboard",
    "progress_table",
    "ranked_models",
    "sections",
    "select",
    "unavailable",
    "warnings_of",
]

CONDITIONAL_FIRST = ("label_accuracy", "ifid")
"""The first columns of a conditional models' table: whether samples follow their labels, and FID per class."""


def leaderboard(
    frame: pd.DataFrame,
    *,
    dataset: str,
    protocol_id: str,
    metric: str | None = None,
    reference_counts: Sequence[int] | None = None,
    conditional: bool = False,
) -> pd.DataFrame:
    """One ranked table (string cells, ready to print) for ``dataset`` under one protocol: the real-data floor, then
    the unconditional models (or, with ``conditional``, the conditional ones) ranked by ``metric`` (default, and
    when the table lacks it: the first of :data:`LOWER_IS_BETTER` that it has).

    Columns: model, the metrics some model of the table has (a conditional table's :data:`CONDITIONAL_FIRST` first),
    ``warnings`` (only when some model of the table is flagged; ``reference_counts``, the reference images per
    class, let coverage be judged), ``FID over last doubling`` (when some model was evaluated at two steps), seeds,
    steps, images seen, train s, img/s, G params, and ``plugin`` (the distribution and version that made the
    rows)."""
    rows = select(frame, dataset=dataset, protocol_id=protocol_id)
    if rows.empty:
        raise ZooError(f"no results for dataset {dataset!r} under protocol {protocol_id}")
    check_single_protocol(rows)
    final = final_rows(rows)
    group = conditional_models(rows)
    models = sorted(m for m in set(final["model"]) - {REAL_DATA} if (m in group) == conditional)
    shorts: dict[str, list[str]] = {}
    for flag in flags(final, reference_counts):
        shorts.setdefault(flag.model, []).append(flag.short)
    return _table(final, models, metric, shorts, last_doubling(rows), CONDITIONAL_FIRST if conditional else ())


def warnings_of(
    frame: pd.DataFrame, *, dataset: str, protocol_id: str, reference_counts: Sequence[int] | None = None
) -> list[str]:
    """One plain sentence per model and warning (:func:`zoo.report.flags.flags`), naming classes and seeds, e.g.
    ``vae under-represents class 1 in seeds 0, 1 and 2 (3.0% of its samples against 11.4% of the reference
    images)``; empty when every model passes or the metrics are absent."""
    rows = final_rows(select(frame, dataset=dataset, protocol_id=protocol_id))
    return [flag.sentence for flag in flags(rows, reference_counts)]


def disagreements(
    frame: pd.DataFrame, *, dataset: str, protocol_id: str, first: str = "fid", second: str = "swd"
) -> list[str]:
    """Where ``first`` and ``second`` rank ``dataset``'s models differently at their final step: one sentence per
    model that ``first`` puts ahead of others that ``second`` puts ahead of it, both orders clear of the seed spread
    (the means differ by more than the two standard deviations added); a sentence that they agree when no order
    flips; empty unless some two models have both metrics."""
    stats = seed_stats(final_rows(select(frame, dataset=dataset, protocol_id=protocol_id)))
    stats = stats[stats["model"] != REAL_DATA]
    both = set(stats.loc[stats["metric"] == first, "model"]) & set(stats.loc[stats["metric"] == second, "model"])
    if len(both) < 2:
        return []
    by = {m: stats[stats["metric"] == m].set_index("model").loc[sorted(both)] for m in (first, second)}
    signs = {m: 1 if LOWER_IS_BETTER.get(m, True) else -1 for m in (first, second)}

    def ahead(metric: str, a: str, b: str) -> bool:
        one, other = by[metric].loc[a], by[metric].loc[b]
        return signs[metric] * one["mean"] < signs[metric] * other["mean"] and apart(one, other)

    ranked = sorted(both, key=lambda m: (signs[first] * by[first].loc[m, "mean"], m))
    found = []
    for a in ranked:
        behind = [b for b in ranked if ahead(first, a, b) and ahead(second, b, a)]
        if behind:
            them = "it" if len(behind) == 1 else "them"
            found.append(
                f"{label(first)} ranks {a} ahead of {listed(behind)}, {label(second)} behind {them}: "
                + "; ".join(
                    f"{label(m)} {value_text(stats, a, m)} against " + listed([value_text(stats, b, m) for b in behind])
                    for m in (first, second)
                )
            )
    return found or [
        f"{label(first)} and {label(second)} agree on the order of every two models whose values are clear of each "
        "other's seed spread."
    ]


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


def _table(
    rows: pd.DataFrame,
    models: list[str],
    rank_by: str | None,
    shorts: dict[str, list[str]],
    doubling: dict[str, str],
    first: Sequence[str],
) -> pd.DataFrame:
    """The table of ``models`` (and the floor) from final ``rows``, with their warnings' ``shorts`` and the
    ``doubling`` column; ``first`` names the metric columns to put first."""
    rows = rows[rows["model"].isin([REAL_DATA, *models])]
    ok = rows[rows["status"] == "ok"]
    stats = seed_stats(rows)
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
    present = set(ok.loc[ok["model"] != REAL_DATA, "metric"]) or set(ok["metric"])
    available = [m for m in LOWER_IS_BETTER if m in present]
    metrics = [m for m in first if m in present] + [m for m in available if m not in first]
    best = {m: clear_best(stats, m) for m in metrics}
    flagged = any(shorts.get(m) for m in models)
    trend = any(m in doubling for m in models)

    table = []
    for model in ([REAL_DATA] if REAL_DATA in set(rows["model"]) else []) + models:
        line: dict[str, str] = {"model": model}
        for metric in metrics:
            line[LABELS[metric]] = value_text(stats, model, metric, bold=model == best[metric])
        if flagged:
            line["warnings"] = "; ".join(shorts.get(model, []))
        if trend:
            line[LAST_DOUBLING] = doubling.get(model, "")
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
    rank_by = rank_by if rank_by in metrics else (available[0] if available else None)
    if rank_by and models:  # the floor first, then models by the ranking metric, missing ones last
        key = stats[stats["metric"] == rank_by].set_index("model")["mean"]
        sign = 1 if LOWER_IS_BETTER[rank_by] else -1
        order = sorted(models, key=lambda m: sign * key[m] if m in key else float("inf"))
        ranked = ranked.set_index("model").loc[[m for m in ranked["model"] if m == REAL_DATA] + order].reset_index()
    return ranked


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
