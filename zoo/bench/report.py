"""The human-readable report of a results folder: ``leaderboard.md``, rebuilt from the stored rows.

It holds, per dataset and protocol: the ranked leaderboard, the metric at every evaluated step, the metrics
that could not be computed and why, and the protocol's full settings; then the sample grids, and every bench
invocation that wrote the folder (command, wall time, machine), so each figure can be traced and reproduced.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from zoo.bench.leaderboard import leaderboard, progress_table, sections, unavailable
from zoo.bench.store import REAL_DATA, Cell, ResultStore
from zoo.errors import ZooError
from zoo.fileio import read_json, write_json, write_text

INVOCATIONS = "invocations.json"


def record_invocation(results_dir: Path, record: dict[str, Any]) -> None:
    """Append one bench invocation (command, wall time, counts, machine) to the folder's history, atomically."""
    path = Path(results_dir) / INVOCATIONS
    history = read_json(path) if path.exists() else []
    write_json(path, [*history, record])


def render(results_dir: Path) -> str:
    """The markdown report of ``results_dir``, a function of what its store holds."""
    results_dir = Path(results_dir)
    store = ResultStore(results_dir)
    frame, protocols = store.rows(), store.protocols()
    lines = [f"# Leaderboard: {results_dir.name}", ""]
    lines += [
        "Written by `zoo bench` (see the invocations at the end); do not edit by hand. Figures are the mean ± "
        "sample standard deviation over seeds at each model's last step; **bold** marks the best model per "
        f"metric; `{REAL_DATA}` scores training images against the reference: the floor a model could reach. "
        "Tables never mix evaluation protocols.",
        "",
    ]
    if frame.empty:
        return "\n".join(lines + ["No results yet.", ""] + _failed(store))
    for dataset, protocol_id, name in sections(frame):
        lines += [f"## {dataset} — protocol `{name}` (id `{protocol_id}`)", ""]
        lines += [leaderboard(frame, dataset=dataset, protocol_id=protocol_id).to_markdown(index=False), ""]
        steps = progress_table(frame, dataset=dataset, protocol_id=protocol_id)
        if steps.shape[1] > 1:
            lines += ["FID (mean over seeds) by training step:", "", steps.to_markdown(), ""]
        for metric, reason in unavailable(frame, dataset=dataset, protocol_id=protocol_id).items():
            lines += [f"- `{metric}` unavailable: {reason}"]
        if protocol_id in protocols:
            lines += [
                "",
                "<details><summary>protocol settings</summary>",
                "",
                "```json",
                json.dumps(protocols[protocol_id], indent=2, sort_keys=True),
                "```",
                "",
                "</details>",
            ]
        lines += [""]
    lines += _diverged(frame) + _failed(store) + _grids(results_dir) + _invocations(results_dir)
    return "\n".join(lines)


def write_report(results_dir: Path) -> Path:
    """(Re)write ``leaderboard.md`` in ``results_dir``; returns its path."""
    path = Path(results_dir) / "leaderboard.md"
    write_text(path, render(results_dir))
    return path


def leaderboard_text(results_dir: Path, *, dataset: str | None = None, metric: str | None = None) -> str:
    """Every leaderboard in ``results_dir`` (or ``dataset``'s) as plain text, ranked by ``metric``."""
    frame = ResultStore(results_dir).rows()
    if dataset:
        frame = frame[frame["dataset"] == dataset]
    if frame.empty:
        raise ZooError(f"no results in {results_dir}" + (f" for dataset {dataset!r}" if dataset else ""))
    blocks = []
    for name, protocol_id, protocol in sections(frame):
        table = leaderboard(frame, dataset=name, protocol_id=protocol_id, metric=metric)
        blocks.append(f"{name} — protocol {protocol} ({protocol_id})\n{table.to_string(index=False)}")
    return "\n\n".join(blocks)


def _diverged(frame: pd.DataFrame) -> list[str]:
    rows = frame[frame["status"] == "diverged"]
    if rows.empty:
        return []
    lines = ["## Diverged runs", ""]
    for row in rows.itertuples():
        lines.append(f"- {row.model} on {row.dataset}, seed {int(row.seed)}: at step {int(row.step)} ({row.reason})")
    return lines + [""]


def _failed(store: ResultStore) -> list[str]:
    """The cells whose last attempt failed (no results: a rerun tries them again), with the cause."""
    records = store.failures()
    if not records:
        return []
    lines = ["## Failed cells", "", "Not results: each is tried again by the next run of the bench.", ""]
    for f in records:
        lines.append(f"- {Cell(f['model'], f['dataset'], f['seed'])}: {f['kind']} ({f['at']}): {f['cause']}")
    return lines + [""]


def _grids(results_dir: Path) -> list[str]:
    grids = sorted((results_dir / "grids").glob("*/*.png"))
    if not grids:
        return []
    lines = ["## Sample grids", ""]
    for grid in grids:
        relative = grid.relative_to(results_dir).as_posix()
        lines.append(f"- [{grid.parent.name} / {grid.stem}]({relative})")
    return lines + [""]


def _invocations(results_dir: Path) -> list[str]:
    path = results_dir / INVOCATIONS
    if not path.exists():
        return []
    lines = ["## How these results were made", ""]
    for record in read_json(path):
        lines.append(
            f"- `{record['command']}` — {record['wall_seconds'] / 60:.1f} min wall time, {record['ran']} cells run, "
            f"{record['skipped']} skipped, {record['diverged']} diverged; {record['device_name']}, commit "
            f"`{record['git_commit']}`, {record['started_at']}{' (interrupted)' if record.get('interrupted') else ''}"
        )
    return lines + [""]
