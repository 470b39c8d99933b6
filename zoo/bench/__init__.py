"""The benchmark harness: profiles, the driver and its executors. It writes a results folder (:mod:`zoo.results`)
and, at the end of a run, its report (:mod:`zoo.report`)."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from pathlib import Path

import click

from zoo.bench.executors import CPU_THREADS_PER_WORKER, local_executor
from zoo.bench.profiles import Profile, load_profile
from zoo.bench.runner import Bench, BenchOptions, Executor
from zoo.data import resolve_data_root
from zoo.device import resolve_device
from zoo.errors import ZooError
from zoo.options import EXECUTORS
from zoo.plugins import Registry
from zoo.provenance import provenance
from zoo.report import write_report
from zoo.results import record_invocation

__all__ = ["Bench", "BenchOptions", "Profile", "load_profile", "run_bench"]


def run_bench(
    registry: Registry,
    profile: Profile,
    *,
    models: list[str] | None,
    results_dir: Path,
    work_dir: Path,
    command: str,
    datasets: list[str] | None = None,
    seeds: list[int] | None = None,
    force: bool = False,
    data_root: Path | None = None,
    download: bool = False,
    device: str = "auto",
    options: BenchOptions = BenchOptions(),  # noqa: B008 - frozen, so sharing the default is safe
    load_plugins: tuple[str, ...] | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = click.echo,
) -> Path:
    """Run ``models`` (None: every registered model whose name is not clashing) under ``profile`` into
    ``results_dir``, then rewrite its report; returns the report path.

    The invocation (``command``, wall time, counts, machine, executor) is recorded in the folder even when it is
    interrupted or fails part-way; cells finished before that are kept. Raises :class:`ZooError` before any work
    when the cells' needs are not met (:func:`zoo.bench.precheck.check_needs`; ``download`` fetches a registered
    dataset's missing files first), and at the end when a cell failed or a model was left out, after every other
    cell has run.
    """
    if models is not None and not models:
        raise ZooError("no models to bench: name some, or pass --all")
    executor = _executor(options, device, profile)
    bench = Bench(
        registry,
        profile,
        results_dir=results_dir,
        work_dir=Path(work_dir).absolute(),
        executor=executor,
        options=options,
        progress=progress and executor.capacity == 1 and options.executor == "local",
        data_root=resolve_data_root(data_root).absolute(),  # workers may have another cwd, or be other nodes
        download=download,
        load_plugins=load_plugins,
        echo=echo,
    )
    plan = bench.plan(models, datasets, seeds)
    echo(f"{len(plan.jobs)} cells (floors included) on {executor.describe()}")
    facts = provenance(resolve_device(device) if options.executor == "local" else resolve_device("cpu"))
    started, interrupted = time.time(), True
    try:
        bench.run(plan, force=force)
        interrupted = False
    finally:
        counts = bench.counts
        record_invocation(
            results_dir,
            {
                "command": command,
                "profile": profile.name,
                "profile_settings": profile.record(),
                "started_at": _utc(started),
                "wall_seconds": round(time.time() - started, 1),
                "ran": counts["done"] + counts["diverged"],
                "skipped": counts["skipped"],
                "diverged": counts["diverged"],
                "failed": len(bench.failures),
                "interrupted": interrupted,
                "executor": executor.describe(),
                "device_name": facts["device_name"],
                "git_commit": facts["git_commit"],
                "versions": facts["versions"],
            },
        )
        report = write_report(results_dir)
    failed = [f"{len(bench.failures)} cell(s) failed and were not recorded: {'; '.join(bench.failures)}"]
    problems = (failed if bench.failures else []) + plan.problems
    if problems:
        raise ZooError(" | ".join(problems) + " (the other cells are kept; rerun to retry)")
    return report


def _executor(options: BenchOptions, device: str, profile: Profile) -> Executor:
    timeout = options.cell_timeout or profile.cell_timeout
    if timeout is not None:
        timeout *= options.stack_seeds  # a job may hold a stack of that many cells
    if options.executor == "ray":
        from zoo.bench.ray_executor import RayExecutor  # only with the optional extra installed

        return RayExecutor(
            address=options.address,
            device=device,
            workers=options.workers,
            threads=CPU_THREADS_PER_WORKER,
            cells_per_device=options.cells_per_device,
            cell_timeout=timeout,
        )
    if options.executor != "local":
        raise ZooError(f"unknown executor {options.executor!r}; use one of {', '.join(EXECUTORS)}")
    return local_executor(
        resolve_device(device),
        workers=options.workers,
        cells_per_device=options.cells_per_device,
        cell_timeout=timeout,
    )


def _utc(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
