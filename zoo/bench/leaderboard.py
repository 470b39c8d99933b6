"""Leaderboards from the long results table: one per dataset and evaluation protocol, never mixing protocols.

Each model's figure is the mean ± sample standard deviation over its seeds, at each cell's final step; the
best model per metric is marked in bold; the real-vs-real floor row shows the best value a model could reach.
"""

from __future__ import annotations

import pandas as pd

from zoo.bench.store import REAL_DATA
from zoo.errors import ZooError

LOWER_IS_BETTER = {"fid": True, "kid_mean": True, "is_mean": False, "precision": False, "recall": False}
"""The metrics a leaderboard shows, in column order, and their direction."""
LABELS = {"fid": "FID", "kid_mean": "KID ×10³", "is_mean": "IS", "precision": "precision", "recall": "recall"}
_SCALE = {"kid_mean": 1e3}


def final_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of each cell's last evaluated step; a diverged cell keeps only its ``diverged`` row."""
    cell = ["model", "dataset", "seed"]
    diverged = frame.groupby(cell, dropna=False)["status"].transform(lambda s: (s == "diverged").any())
    last = frame.groupby(cell, dropna=False)["step"].transform("max")
    return frame[(diverged & (frame["status"] == "diverged")) | (~diverged & (frame["step"] == last))]


def sections(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    """``(dataset, protocol id, protocol name)`` of every leaderboard ``frame`` holds, one per dataset and protocol."""
    scored = frame[frame["protocol_id"] != ""]
    return [(d, pid, rows["protocol"].iloc[0]) for (d, pid), rows in scored.groupby(["dataset", "protocol_id"])]


def select(frame: pd.DataFrame, *, dataset: str, protocol_id: str) -> pd.DataFrame:
    """``dataset``'s rows under ``protocol_id``, with its diverged rows (which belong to no protocol)."""
    return frame[
        (frame["dataset"] == dataset) & ((frame["protocol_id"] == protocol_id) | (frame["status"] == "diverged"))
    ]


def leaderboard(frame: pd.DataFrame, *, dataset: str, protocol_id: str, metric: str | None = None) -> pd.DataFrame:
    """One ranked table (string cells, ready to print) for ``dataset`` under one protocol, ranked by ``metric``
    (default: the first of :data:`LOWER_IS_BETTER` that is available)."""
    rows = select(frame, dataset=dataset, protocol_id=protocol_id)
    if rows.empty:
        raise ZooError(f"no results for dataset {dataset!r} under protocol {protocol_id}")
    return _table(final_rows(rows), metric)


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
    metrics = [m for m in LOWER_IS_BETTER if m in set(stats["metric"])]
    models = sorted(set(rows["model"]) - {REAL_DATA})
    best = {m: _best(stats, m) for m in metrics}

    table = []
    for model in ([REAL_DATA] if REAL_DATA in set(rows["model"]) else []) + models:
        line: dict[str, str] = {"model": model}
        for metric in metrics:
            line[LABELS[metric]] = _cell(stats, model, metric, bold=model == best[metric])
        if model == REAL_DATA:
            line.update({"seeds": "", "steps": "", "images seen": "", "train s": "", "img/s": "", "G params": ""})
        else:
            c = cost.loc[model]
            failed = diverged.get(model, [])
            note = f" ({len(failed)} diverged, at step {', '.join(str(int(s)) for s in failed)})" if failed else ""
            line["seeds"] = f"{int(c.seeds) - len(failed)} of {int(c.seeds)}{note}"
            line["steps"] = f"{int(c.step)}"
            line["images seen"] = f"{int(c.images_seen):,}"
            line["train s"] = _number(c.train_seconds, "{:.0f}")
            line["img/s"] = _number(c.images_per_second, "{:.0f}")
            line["G params"] = f"{int(c.params_generator):,}"
        table.append(line)
    ranked = pd.DataFrame(table)
    rank_by = rank_by or (metrics[0] if metrics else None)
    if rank_by in metrics and models:  # the floor first, then models by the ranking metric, missing ones last
        key = stats[stats["metric"] == rank_by].set_index("model")["mean"]
        sign = 1 if LOWER_IS_BETTER[rank_by] else -1
        order = sorted(models, key=lambda m: sign * key[m] if m in key else float("inf"))
        ranked = ranked.set_index("model").loc[[m for m in ranked["model"] if m == REAL_DATA] + order].reset_index()
    return ranked


def _number(value: float, form: str) -> str:
    return "" if pd.isna(value) else form.format(value)


def _best(stats: pd.DataFrame, metric: str) -> str | None:
    candidates = stats[(stats["metric"] == metric) & (stats["model"] != REAL_DATA)]
    if candidates.empty:
        return None
    index = candidates["mean"].idxmin() if LOWER_IS_BETTER[metric] else candidates["mean"].idxmax()
    return candidates.loc[index, "model"]


def _cell(stats: pd.DataFrame, model: str, metric: str, bold: bool) -> str:
    found = stats[(stats["model"] == model) & (stats["metric"] == metric)]
    if found.empty:
        return "n/a"
    scale = _SCALE.get(metric, 1.0)
    mean, std, count = found.iloc[0]["mean"] * scale, found.iloc[0]["std"] * scale, found.iloc[0]["count"]
    text = f"{mean:.3g}" if count < 2 else f"{mean:.3g} ± {std:.2g}"
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
