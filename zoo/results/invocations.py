"""The history of the bench invocations that wrote a results folder: ``invocations.json``, a list of records,
oldest first.

A record is what the bench driver knew when it stopped: ``command``, ``profile`` and ``profile_settings`` (the
profile's description, budget rule and budgets: see :meth:`zoo.bench.profiles.Profile.record`), ``started_at``,
``wall_seconds``, the counts ``ran``, ``skipped``, ``diverged`` and ``failed``, ``interrupted``, ``executor``,
``device_name``, ``git_commit`` and ``versions``. Folders written by older zoo versions may lack some keys
(``profile_settings`` above all); readers must not assume them.

A damaged file (not a JSON list: a full disk, an edit) stops nothing: readers get no history and a one-line
warning; the next bench keeps the file aside, as ``invocations.json.damaged-<UTC time>``, and starts a new one.
"""

from __future__ import annotations

import datetime
import warnings
from pathlib import Path
from typing import Any

from zoo.errors import ZooWarning
from zoo.fileio import read_json, write_json

INVOCATIONS = "invocations.json"


def record_invocation(results_dir: Path, record: dict[str, Any]) -> None:
    """Append one bench invocation's ``record`` to the folder's history, atomically (a damaged history is first
    kept aside, with a warning)."""
    path = Path(results_dir) / INVOCATIONS
    history = _read(path)
    if history is None:
        aside = path.with_name(f"{INVOCATIONS}.damaged-{datetime.datetime.now(datetime.UTC):%Y%m%dT%H%M%S%fZ}")
        path.rename(aside)
        warnings.warn(
            f"{path} was damaged (not a JSON list); kept aside as {aside.name}, a new one is begun",
            ZooWarning,
            stacklevel=1,
        )
        history = []
    write_json(path, [*history, record])


def read_invocations(results_dir: Path) -> list[dict[str, Any]]:
    """Every invocation recorded in ``results_dir``, oldest first; empty when none is, or (with a warning) when
    the file is damaged."""
    path = Path(results_dir) / INVOCATIONS
    history = _read(path)
    if history is None:
        warnings.warn(
            f"{path} is damaged (not a JSON list): the report leaves out how its results were made; the next zoo "
            "bench keeps it aside and begins a new one",
            ZooWarning,
            stacklevel=1,
        )
    return history or []


def _read(path: Path) -> list[dict[str, Any]] | None:
    """The history in ``path``: empty when there is no file, None when it is not a JSON list of objects."""
    if not path.exists():
        return []
    try:
        history = read_json(path)
    except ValueError:  # not JSON, or not even text
        return None
    ok = isinstance(history, list) and all(isinstance(record, dict) for record in history)
    return history if ok else None
