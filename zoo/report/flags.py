"""What the leaderboard warns about, and every threshold the report judges by with the reason for it: the one place
to read or change them.

Judgements are per model and seed, at each cell's final step, from the final rows of one dataset under one protocol
(:func:`zoo.report.rows.final_rows`), against the real-data floor of the same protocol:

* coverage: each class's share of a model's samples (``class_share_<k>``: the class the protocol's domain classifier
  predicts) against its share of the reference images (the protocol's ``reference_class_counts``), so that a
  dataset's own class frequencies are no fault;
* diversity: the model's ``recall`` against the floor's (held-out real images scored against the same reference);
* memorisation: ``copy_share_features`` and ``copy_share_pixels`` (the share of samples closer to their nearest
  training image than the 5% quantile of held-out real images' nearest-training distances) against the floor's;
* labels: a conditional model's ``label_accuracy``.

A metric a cell lacks is not judged: old rows without class shares get no coverage warning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import pandas as pd

from zoo.report.values import label, listed
from zoo.results import REAL_DATA

UNDER_REPRESENTED = 0.5
"""A class is *under-represented* when its share of a model's samples is under this fraction of its share of the
reference images: the model draws fewer than half the samples of it that the data would, an imbalance one sees in a
grid, yet it draws the class. Real held-out images against the reference split stay near 1 (MNIST's test split
against its train split: 0.91 to 1.05 for every class)."""
MISSING = 0.1
"""A class is *missing* under this fraction of its reference share. A class the model never draws still gets some of
the classifier's mistakes on the other classes (a 99%-accurate classifier puts about 0.01x of a class's share there),
so the line leaves room for those, and for a weaker classifier's."""
COLLAPSE_MISSING = 2
"""*Collapsed* takes this many missing classes: one missing class can be a class not learned yet; a generator
whose samples leave out several classes covers part of the data only."""
LOW_DIVERSITY = 0.5
"""*Low diversity*: recall under this fraction of the real-data floor's recall. Recall is the share of real images
whose neighbourhood the samples reach; held-out real images are what a perfect model would score."""
COLLAPSE_RECALL = 0.25
"""*Collapsed* also when recall is under this fraction of the floor's: the samples reach under a quarter of what
real images reach, whatever the classes say (a generator drawing a few images per class has every class)."""
COPY_FACTOR, COPY_MARGIN = 2.0, 0.05
"""*Copies training images* when a copy share is over ``COPY_FACTOR`` times the floor's and over the floor's plus
``COPY_MARGIN``. Held-out real images score about 0.05 by construction (the line is their 5% quantile) and, with
thousands of samples, the share's sampling error is under 0.01: twice the floor and five points above it is far
beyond chance, and a model that returns its training images scores near 1."""
MIN_LABEL_ACCURACY = 0.95
"""A conditional model whose samples get their label from the classifier less often than this ignores its labels
too often (the classifier itself is 99% accurate on MNIST's test images)."""
STILL_IMPROVING = 0.10
"""A row is *still improving* when its FID fell by more than this share over its last doubling of steps (its final
step against the evaluated step closest to half of it): the budget ended before the model did."""

CLASS_SHARE = "class_share_"
"""The prefix of the metrics ``class_share_<k>``: the share of a cell's samples the classifier puts in class k."""
COPY_METRICS = ("copy_share_features", "copy_share_pixels")

RULES = (
    f"Coverage: a class is under-represented when its share of a model's samples is under {UNDER_REPRESENTED:g}× its "
    f"share of the reference images, missing under {MISSING:g}× (classes as the protocol's classifier predicts "
    f"them). Low diversity: recall under {LOW_DIVERSITY:g}× the real-data floor's. Collapsed: {COLLAPSE_MISSING} or "
    f"more classes missing, or recall under {COLLAPSE_RECALL:g}× the floor's. Copies training images: a copy share "
    f"over {COPY_FACTOR:g}× the floor's and over the floor's + {COPY_MARGIN:g} (held-out real images score about "
    f"0.05). A conditional model ignores its labels when its label accuracy is under {MIN_LABEL_ACCURACY:.0%}. "
    f"Still improving: FID fell by more than {STILL_IMPROVING:.0%} over the last doubling of steps."
)
"""The rules above as the report states them."""


class Flag(NamedTuple):
    """One warning about a model: ``short`` for its row of a table, ``sentence`` for the list under it."""

    model: str
    short: str
    sentence: str


def is_class_share(metric: str) -> bool:
    return metric.startswith(CLASS_SHARE) and metric[len(CLASS_SHARE) :].isdigit()


def copy_threshold(floor: float) -> float:
    """The copy share above which a model copies training images more than real data does (floor's share given)."""
    return max(COPY_FACTOR * floor, floor + COPY_MARGIN)


def thresholds(floor: Mapping[str, float]) -> dict[str, float]:
    """Metric -> the value past which a model is flagged, given the floor's values (metric -> value): recall's low
    diversity line, the copy shares' lines and label accuracy's (the lines the final-metrics figure draws)."""
    found = {"label_accuracy": MIN_LABEL_ACCURACY}
    if "recall" in floor:
        found["recall"] = LOW_DIVERSITY * floor["recall"]
    found.update({metric: copy_threshold(floor[metric]) for metric in COPY_METRICS if metric in floor})
    return found


def flags(final: pd.DataFrame, reference_counts: Sequence[int] | None = None) -> list[Flag]:
    """Every warning about the models of ``final`` (final rows of one dataset under one protocol, the floor's
    included), model by model in name order: collapsed, missing and under-represented classes, low diversity,
    copying, ignored labels. ``reference_counts`` (images per class of the reference) is needed for coverage."""
    ok = final[final["status"] == "ok"]
    floor = ok[ok["model"] == REAL_DATA].groupby("metric")["value"].mean()
    models = ok[ok["model"] != REAL_DATA]
    if models.empty:
        return []
    cells = models.pivot_table(index=["model", "seed"], columns="metric", values="value")
    reference = _shares(reference_counts)
    found: list[Flag] = []
    for model, values in cells.groupby(level="model"):
        values = values.droplevel("model")
        values.index = values.index.astype(int)
        found += _coverage(str(model), values, reference, floor)
        found += _copies(str(model), values, floor) + _labels(str(model), values)
    return found


def _shares(counts: Sequence[int] | None) -> pd.Series:
    """Class -> share of the reference images (empty without counts)."""
    series = pd.Series(list(counts or []), dtype=float)
    return series / series.sum() if series.sum() > 0 else series.iloc[:0]


def _coverage(model: str, values: pd.DataFrame, reference: pd.Series, floor: pd.Series) -> list[Flag]:
    seeds = len(values)
    columns = {c: int(c[len(CLASS_SHARE) :]) for c in values.columns if is_class_share(c)}
    shares = values[list(columns)].rename(columns=columns).dropna(how="all")
    common = [k for k in shares.columns if k in reference.index and reference[k] > 0]
    ratios = shares[common] / reference[common]
    missing = {s: [k for k in common if ratios.at[s, k] < MISSING] for s in ratios.index}
    under = {s: [k for k in common if MISSING <= ratios.at[s, k] < UNDER_REPRESENTED] for s in ratios.index}
    recall = values["recall"].dropna() if "recall" in values and "recall" in floor.index else pd.Series(dtype=float)
    ratio = recall / floor.get("recall", float("nan"))
    by_classes = [s for s, classes in missing.items() if len(classes) >= COLLAPSE_MISSING]
    by_recall = sorted(ratio.index[ratio < COLLAPSE_RECALL])
    found = []
    collapsed = sorted(set(by_classes) | set(by_recall))
    if collapsed:
        why = []
        if by_classes:
            classes = sorted({k for s in by_classes for k in missing[s]})
            why.append(f"{COLLAPSE_MISSING} or more classes missing in {_seed_list(by_classes)} ({_classes(classes)})")
        if by_recall:
            why.append(
                f"recall under {COLLAPSE_RECALL:g}× the real-data floor's in {_seed_list(by_recall)} "
                f"({_spread(recall[by_recall])} against {floor['recall']:.3g})"
            )
        sentence = f"{model} collapsed in {_of(collapsed, seeds)}: {'; '.join(why)}"
        found.append(Flag(model, f"collapsed ({len(collapsed)}/{seeds} seeds)", sentence))
    for word, verb, judged in (("missing", "misses", missing), ("under-represented", "under-represents", under)):
        classes = sorted({k for ks in judged.values() for k in ks})
        if classes:
            hit = [s for s, ks in judged.items() if ks]
            parts = []
            for k in classes:
                where = [s for s, ks in judged.items() if k in ks]
                share = shares.loc[where, k].mean()
                parts.append(
                    f"class {k} in {_seed_list(where)} ({share:.1%} of its samples against {reference[k]:.1%} of "
                    "the reference images)"
                )
            short = f"{_classes(classes)} {word} ({len(hit)}/{seeds} seeds)"
            found.append(Flag(model, short, f"{model} {verb} {listed(parts)}"))
    low = sorted(ratio.index[(ratio < LOW_DIVERSITY) & (ratio >= COLLAPSE_RECALL)])
    if low:
        sentence = (
            f"{model} has low diversity in {_of(low, seeds)}: recall {_spread(recall[low])} against the real-data "
            f"floor's {floor['recall']:.3g}, under {LOW_DIVERSITY:g}× it"
        )
        found.append(Flag(model, f"low diversity ({len(low)}/{seeds} seeds)", sentence))
    return found


def _copies(model: str, values: pd.DataFrame, floor: pd.Series) -> list[Flag]:
    judged = [m for m in COPY_METRICS if m in values and m in floor.index]
    over = {m: sorted(values.index[values[m] > copy_threshold(floor[m])]) for m in judged}
    hit = sorted({s for seeds in over.values() for s in seeds})
    if not hit:
        return []
    seeds = len(values)
    measured = "; ".join(
        f"{label(m)} {_spread(values[m].dropna())} against the real-data floor's {floor[m]:.2g}"
        for m in judged
        if over[m]
    )
    sentence = f"{model} copies training images more than real data does in {_of(hit, seeds)}: {measured}"
    return [Flag(model, f"copies training images ({len(hit)}/{seeds} seeds)", sentence)]


def _labels(model: str, values: pd.DataFrame) -> list[Flag]:
    if "label_accuracy" not in values:
        return []
    accuracy = values["label_accuracy"].dropna()
    low = sorted(accuracy.index[accuracy < MIN_LABEL_ACCURACY])
    if not low:
        return []
    sentence = (
        f"{model} ignores its labels too often: label accuracy under {MIN_LABEL_ACCURACY:.0%} in "
        f"{_of(low, len(accuracy))} (label accuracy {_spread(accuracy)})"
    )
    return [Flag(model, f"label accuracy < {MIN_LABEL_ACCURACY:.0%} ({len(low)}/{len(accuracy)} seeds)", sentence)]


def _spread(values: pd.Series) -> str:
    """``mean ± std`` of one value per seed (the mean alone for one seed)."""
    return f"{values.mean():.3g}" + (f" ± {values.std():.2g}" if len(values) > 1 else "")


def _of(seeds: Sequence[int], total: int) -> str:
    """``2 of 3 seeds (0, 2)``."""
    return f"{len(seeds)} of {total} seed{'s' if total > 1 else ''} ({', '.join(str(s) for s in seeds)})"


def _seed_list(seeds: Sequence[int]) -> str:
    """``seed 2``, ``seeds 0 and 2``."""
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {listed([str(s) for s in seeds])}"


def _classes(classes: Sequence[int]) -> str:
    """``class 3``, ``classes 3 and 7``."""
    return f"class {classes[0]}" if len(classes) == 1 else f"classes {listed([str(k) for k in classes])}"
