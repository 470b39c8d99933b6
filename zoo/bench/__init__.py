"""The benchmark harness: profiles, the cell runner, the results store, leaderboards and the report."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from pathlib import Path

import click

from zoo.bench.profiles import Profile, load_profile
from zoo.bench.report import profile_record, record_invocation, write_report
from zoo.bench.runner import Bench, Cell
from zoo.bench.store import ResultStore
from zoo.errors import ZooError
from zoo.plugins import Registry

__all__ = ["Bench", "Cell", "Profile", "ResultStore", "load_profile", "run_bench"]


def run_bench(
    registry: Registry,
    profile: Profile,
    *,
    models: list[str],
    results_dir: Path,
    work_dir: Path,
    command: str,
    datasets: list[str] | None = None,
    seeds: list[int] | None = None,
    force: bool = False,
    data_root: Path | None = None,
    device: str = "auto",
    progress: bool = True,
    echo: Callable[[str], None] = click.echo,
) -> Path:
    """Run ``models`` under ``profile`` into ``results_dir``, then rewrite its report; returns the report path.

    The invocation (``command``, wall time, counts, machine) is recorded in the folder even when it is
    interrupted or fails part-way; cells finished before that are kept.
    """
    if not models:
        raise ZooError("no models to bench: name some, or pass --all")
    bench = Bench(
        registry,
        profile,
        results_dir=results_dir,
        work_dir=work_dir,
        data_root=data_root,
        device=device,
        progress=progress,
        echo=echo,
    )
    cells = bench.plan(models, datasets, seeds)
    started, interrupted = time.time(), True
    try:
        bench.run(cells, force=force)
        interrupted = False
    finally:
        provenance, counts = bench.provenance, bench.counts
        record_invocation(
            results_dir,
            {
                "command": command,
                "profile": profile.name,
                "profile_settings": profile_record(profile),
                "started_at": _utc(started),
                "wall_seconds": round(time.time() - started, 1),
                "ran": counts["done"] + counts["diverged"],
                "skipped": counts["skipped"],
                "diverged": counts["diverged"],
                "failed": len(bench.failures),
                "interrupted": interrupted,
                "device_name": provenance["device_name"],
                "git_commit": provenance["git_commit"],
                "versions": provenance["versions"],
            },
        )
        report = write_report(results_dir)
    if bench.failures:
        raise ZooError(
            f"{len(bench.failures)} cell(s) failed and were not recorded (the rest are kept; rerun to retry): "
            + "; ".join(bench.failures)
        )
    return report


def _utc(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
