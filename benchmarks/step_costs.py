"""Seconds per training step of each model, through zoo's own loop, in the bench's worker setting; and the step
budgets that give every model the same training time.

Each (model, dataset) is measured by two processes at once (``--workers``), each with one torch thread and the
bench workers' environment (:func:`zoo.bench.executors.worker_environment`), as ``zoo bench`` runs cells on a
2-core CPU. A process runs the model through zoo's run pipeline (:class:`zoo.runs.Run`, as a bench cell does, with
the profile's batch size and ``hparams_per_model``, unscored, into a temporary folder) for ``--warmup`` steps, then
resumes it for about ``--seconds`` more; its cost is that second call's training seconds (``TrainResult.seconds``,
what a bench row records as ``train_seconds``) per step. Prints the costs, then a TOML snippet for the profile: the
steps that make each model train for ``--target`` seconds (two significant digits), and evaluation points
(``eval_at``) that give every model at least ``--points`` of them, spaced by factors of about two.

    python benchmarks/step_costs.py --data-root ../shared/datasets [--profile cpu] [--target 150] [--seconds 20]
        [--models vanilla_gan,dcgan] [--datasets mnist,fashion-mnist]

Measure on a quiet machine: other processes' CPU load inflates the costs (the load average is printed).

``--from-results RESULTS_CSV`` measures nothing: the costs are those a bench recorded, each cell's
``train_seconds / step`` at its last step, averaged per model (so on a GPU, in the sharing its
``--cells-per-device`` set); ``benchmarks/gpu_check.py`` proposes the gpu profile's budgets so. ``--json PATH`` also
writes the costs and the proposed budgets to PATH.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import torch

from zoo.bench.executors import worker_environment
from zoo.bench.profiles import Profile, load_profile
from zoo.plugins import load_registry
from zoo.runs import Run, RunConfig


def measure(model: str, dataset: str, profile: Profile, data_root: str | None, warmup: int, seconds: float) -> float:
    """Seconds per step of ``model`` on ``dataset`` in this process (one thread), through :class:`zoo.runs.Run`."""
    torch.set_num_threads(1)
    registry = load_registry()
    hparams = profile.hparams_per_model.get(model, {})
    config = RunConfig(model, dataset, steps=warmup, batch_size=profile.batch_size, seed=0, hparams=hparams)
    root = None if data_root is None else Path(data_root)
    with tempfile.TemporaryDirectory() as folder:

        def run(steps: int, resume: bool) -> float:
            budget = dataclasses.replace(config, steps=steps)
            options = dict(device=torch.device("cpu"), data_root=root, progress=False)
            return Run(registry, budget, Path(folder), **options).execute(resume=resume, checkpoint_every=steps).seconds

        first = run(warmup, resume=False)
        steps = max(5, round(seconds * warmup / max(first, 1e-9)))
        return run(warmup + steps, resume=True) / steps


def measure_in_workers(model: str, dataset: str, args: argparse.Namespace) -> list[float]:
    """Seconds per step measured by ``args.workers`` processes running ``model`` on ``dataset`` at the same time."""
    command = [sys.executable, __file__, "--measure", model, dataset, "--profile", args.profile]
    command += ["--warmup", str(args.warmup), "--seconds", str(args.seconds)]
    command += ["--data-root", args.data_root] if args.data_root else []
    environ = {**os.environ, **worker_environment(1)}
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environ) for _ in range(args.workers)]
    outputs = [worker.communicate()[0] for worker in workers]
    if any(worker.returncode for worker in workers):
        raise SystemExit(f"measuring {model} on {dataset} failed: {' '.join(command)}")
    return [json.loads(out.strip().splitlines()[-1])["seconds_per_step"] for out in outputs]


def two_digits(value: float) -> int:
    """``value`` rounded to two significant digits (at least 1)."""
    digits = max(0, math.floor(math.log10(max(value, 1))) - 1)
    return max(1, round(value / 10**digits) * 10**digits)


def eval_points(budgets: dict[str, int], points: int) -> list[int]:
    """Evaluation steps for all models (a profile's ``eval_at``): doubling from the smallest budget / 2**(points-1)
    to below the largest budget, two significant digits. Each model then has at least ``points`` evaluations, its
    last step included; a model with a larger budget has one more per doubling."""
    smallest, largest = min(budgets.values()), max(budgets.values())
    grid, step = [], smallest / 2 ** (points - 1)
    while step < largest:
        grid.append(two_digits(step))
        step *= 2
    return sorted(set(grid))


def measured_costs(
    profile: Profile, models: list[str], datasets: list[str], args: argparse.Namespace
) -> dict[str, float]:
    """Seconds per step of each model, measured in ``args.workers`` processes per dataset and averaged over the
    datasets; prints each measurement."""
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; load average before {os.getloadavg()}"
    )
    print(f"profile {profile.name}: batch {profile.batch_size}; {args.workers} workers x 1 thread, each timing "
          f"~{args.seconds:g} s after {args.warmup} warm-up steps")  # fmt: skip
    costs: dict[str, dict[str, float]] = {}
    for model in models:
        for dataset in datasets:
            runs = measure_in_workers(model, dataset, args)
            costs.setdefault(model, {})[dataset] = statistics.mean(runs)
            shown = ", ".join(f"{1000 * r:.1f}" for r in runs)
            print(f"  {model:<12} {dataset:<14} {1000 * statistics.mean(runs):8.1f} ms/step  (workers: {shown})")
    print(f"load average after {os.getloadavg()}")
    return {m: statistics.mean(c.values()) for m, c in costs.items()}


def recorded_costs(results_csv: Path) -> dict[str, float]:
    """Seconds per step of each model as a bench recorded them: each cell's ``train_seconds / step`` at its last
    step (the real-data floor and cells without training seconds left out), averaged over the model's cells."""
    rows = pd.read_csv(results_csv)
    rows = rows[(rows["model"] != "real-data") & rows["train_seconds"].notna() & (rows["step"] > 0)]
    cells = rows.loc[rows.groupby(["model", "dataset", "seed"])["step"].idxmax()]
    per_step = cells["train_seconds"] / cells["step"]
    return {str(model): float(cost) for model, cost in per_step.groupby(cells["model"]).mean().items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--profile", default="cpu", help="batch size, datasets and hparams_per_model come from it")
    parser.add_argument("--models", default=None, help="comma-separated; default: every registered model")
    parser.add_argument("--datasets", default=None, help="comma-separated; default: the profile's")
    parser.add_argument("--target", type=float, default=150.0, help="training seconds per cell to budget for")
    parser.add_argument("--points", type=int, default=4, help="evaluation points per cell, its last step included")
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per measurement")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps before each measurement")
    parser.add_argument("--workers", type=int, default=2, help="processes measuring at once (the bench's workers)")
    parser.add_argument("--from-results", type=Path, default=None, help="a bench's results.csv: measure nothing")
    parser.add_argument("--json", type=Path, default=None, help="also write costs and budgets to this JSON file")
    parser.add_argument("--measure", nargs=2, metavar=("MODEL", "DATASET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    profile = load_profile(args.profile)
    if args.measure:
        cost = measure(*args.measure, profile, args.data_root, args.warmup, args.seconds)
        print(json.dumps({"seconds_per_step": cost}))
        return

    if args.from_results:
        per_model = recorded_costs(args.from_results)
        how, where = f"as recorded in {args.from_results}", " as a bench recorded them"
        for model, cost in per_model.items():
            print(f"  {model:<12} {1000 * cost:8.1f} ms/step")
    else:
        models = args.models.split(",") if args.models else list(load_registry().models)
        datasets = args.datasets.split(",") if args.datasets else list(profile.datasets)
        per_model = measured_costs(profile, models, datasets, args)
        how = f"batch {profile.batch_size}, {args.workers} workers x 1 thread, mean over {', '.join(datasets)}"
        where = f" in {args.workers} single-threaded workers"

    budgets = {m: two_digits(args.target / cost) for m, cost in per_model.items()}
    measured = ", ".join(f"{m} {1000 * c:.1f}" for m, c in per_model.items())
    common = statistics.median_low(budgets.values())
    points = eval_points(budgets, args.points)
    print(f"\n# Per-step costs (ms, {how}): {measured}.")
    print(
        f'budget = "equal training time: about {args.target:g} s per cell{where}; steps from measured per-step costs '
        f'(ms): {measured}"'
    )
    print(f"steps = {common}")
    print("steps_per_model = { " + ", ".join(f"{m} = {s}" for m, s in budgets.items() if s != common) + " }")
    print(f"eval_at = {points}")
    for model, steps in budgets.items():
        print(f"#   {model}: {steps} steps x {1000 * per_model[model]:.1f} ms = {steps * per_model[model]:.0f} s")
    if args.json:
        proposal = dict(target_seconds=args.target, costs_from=how, seconds_per_step=per_model, steps=common)
        proposal.update(steps_per_model=budgets, eval_at=points)
        args.json.write_text(json.dumps(proposal, indent=1))


if __name__ == "__main__":
    main()
