"""The rows of one leaderboard (a dataset under one evaluation protocol) and the statistics over seeds every table of
the report is built from.

Everything here takes the long table (:data:`zoo.results.COLUMNS`) and returns pandas frames; nothing formats.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from zoo.errors import ZooError
from zoo.results import REAL_DATA

CELL = ["model", "dataset", "seed", "trial"]
"""The columns naming one cell (the floor's seed is empty, and a cell's trial outside a sweep)."""


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


def check_single_protocol(frame: pd.DataFrame) -> None:
    """Refuse a frame whose rows come from more than one protocol."""
    ids = sorted(i for i in frame["protocol_id"].unique() if isinstance(i, str) and i)
    if len(ids) > 1:
        raise ZooError(f"refusing to rank results of different protocols together: {', '.join(ids)}")


def final_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of each cell's last evaluated step; a diverged cell keeps only its ``diverged`` row."""
    diverged = frame.groupby(CELL, dropna=False)["status"].transform(lambda s: (s == "diverged").any())
    last = frame.groupby(CELL, dropna=False)["step"].transform("max")
    return frame[(diverged & (frame["status"] == "diverged")) | (~diverged & (frame["step"] == last))]


def finished_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``ok`` rows of the model cells that did not diverge, at every evaluated step (the training curves);
    the floor's rows are left out."""
    diverged = frame.groupby(CELL, dropna=False)["status"].transform(lambda s: (s == "diverged").any())
    return frame[~diverged & (frame["status"] == "ok") & (frame["model"] != REAL_DATA)]


def conditional_models(frame: pd.DataFrame) -> set[str]:
    """The models of ``frame`` that are conditional: those whose rows hold ``label_accuracy`` (a model given each
    sample's class; a model with named latent codes, such as InfoGAN's ``code_accuracy``, is not)."""
    return set(frame.loc[frame["metric"] == "label_accuracy", "model"]) - {REAL_DATA}


def seed_stats(rows: pd.DataFrame) -> pd.DataFrame:
    """Per model and metric of ``rows`` (one value per seed): ``mean``, ``std`` (sample standard deviation, NaN
    for one seed) and ``count``; only ``ok`` rows count."""
    ok = rows[rows["status"] == "ok"]
    return ok.groupby(["model", "metric"])["value"].agg(["mean", "std", "count"]).reset_index()
