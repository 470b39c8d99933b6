"""The history of the bench invocations that wrote a results folder: ``invocations.json``, a list of records,
oldest first.

A record is what the bench driver knew when it stopped: ``command``, ``profile`` and ``profile_settings`` (the
profile's description, budget rule and budgets: see :meth:`zoo.bench.profiles.Profile.record`), ``started_at``,
``wall_seconds``, the counts ``ran``, ``skipped``, ``diverged`` and ``failed``, ``interrupted``, ``executor``,
``device_name``, ``git_commit`` and ``versions``. Folders written by older zoo versions may lack some keys
(``profile_settings`` above all); readers must not assume them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.fileio import read_json, write_json

INVOCATIONS = "invocations.json"


def record_invocation(results_dir: Path, record: dict[str, Any]) -> None:
    """Append one bench invocation's ``record`` to the folder's history, atomically."""
    history = read_invocations(results_dir)
    write_json(Path(results_dir) / INVOCATIONS, [*history, record])


def read_invocations(results_dir: Path) -> list[dict[str, Any]]:
    """Every invocation recorded in ``results_dir``, oldest first; empty when none is."""
    path = Path(results_dir) / INVOCATIONS
    return read_json(path) if path.exists() else []
