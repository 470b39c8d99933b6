"""Training throughput per model: zoo's loop against a bare loop, in fp32 and bf16, eager and compiled; and how busy
a bench keeps the device.

Part 1, per model and mode: the same trainer (built by the model's plugin with the same seed) trains on the same
in-memory batches through ``zoo.training.train`` (deferred loss reads, NaN guard, loss history, a checkpoint at
the end) and through a bare loop (``train_step`` on each batch, nothing else, one device sync at the end). Both
first take ``--warmup`` steps in the mode (30 by default), so a compiled mode's compilation and a bf16 mode's
first steps on a CPU (seen at 60 img/s for the VAE, then 2000, while oneDNN makes its kernels) are not timed.
Modes: ``fp32``, ``bf16`` (bfloat16 autocast, forced here whatever the model's spec says, to measure it), each
eager or ``+compile``. Prints img/s and the ratios zoo / bare, bf16 / fp32 and compiled / eager; on a CPU the
ratios are what to read (bf16 is meant for GPUs, and compiling costs minutes there).

Part 2, once per concurrency K of ``--bench-cells-per-device``: ``zoo bench`` of the profile (``--all``, or
``--bench-models``) into a temporary folder with K cells at once (``--cells-per-device K`` on CUDA, ``--workers K``
on a CPU), sampling the device meanwhile: on CUDA its utilization (NVML, through ``torch.cuda.utilization``; needs
``nvidia-ml-py``), on a CPU the machine's busy share from ``/proc/stat`` (machine-wide: other processes count, so
measure on a quiet machine). From the bench's rows: images trained per wall second over the whole bench, and per
cell over its training seconds.

``--stacked 1,3,8`` replaces part 1: each of ``--models`` with S seeds stacked into one process against the same S
seeds one after another, for each S (``benchmarks/stacked.py``'s comparison, one repeat, ``--steps`` and
``--warmup`` steps).

``--json PATH`` also writes every figure to PATH (``loop``: a record per model and mode; ``stacked``: one per model
and S; ``concurrency``: one per K), as ``benchmarks/gpu_check.py`` collects them.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/throughput.py --data-root ../shared/datasets [--models dcgan,vae]
        [--steps 200] [--modes fp32,bf16,fp32+compile,bf16+compile] [--bench-profile smoke]
        [--bench-cells-per-device 1,2,4] [--bench-models dcgan] [--bench-seeds 4] [--json figures.json]

(``OMP_WAIT_POLICY=PASSIVE`` as the bench's workers run: without it, OpenMP threads spin while other processes
want the cores.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import torch

from zoo import create_trainer
from zoo.bench.profiles import profile_path
from zoo.data import InMemoryDataset, load_split
from zoo.device import describe_device, resolve_device
from zoo.plugins import Registry, load_registry
from zoo.training import batches_per_step, compile_networks, step_precision, train

BATCH = 64


def trainer_for(registry: Registry, model: str, data: InMemoryDataset, mode: str, warmup: int):
    """``model``'s trainer for MNIST (seed 0), compiled if ``mode`` says so, after ``warmup`` untimed steps in the
    mode's precision (kernels and graphs are made then, not timed)."""
    spec = registry.models[model]
    trainer = create_trainer(spec, (1, 28, 28), 10, seed=0, device=data.device)
    if mode.endswith("+compile"):
        compile_networks(trainer)
    sampler = torch.Generator(device=data.device).manual_seed(1)
    for _ in range(warmup):
        with step_precision(mode.split("+")[0], data.device):
            trainer.train_step(data.sample(BATCH * batches_per_step(trainer), sampler))
    return trainer


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def zoo_rate(trainer, data: InMemoryDataset, steps: int, precision: str, folder: Path) -> float:
    """img/s (images seen, as the loop counts them) of ``steps`` steps through zoo's loop, wall time including its
    reads and final checkpoint."""
    synchronize(data.device)
    started = time.perf_counter()
    options = dict(steps=steps, batch_size=BATCH, seed=0, checkpoint_path=folder / "ckpt.pt", progress=False)
    result = train(trainer, data, precision=precision, **options)
    synchronize(data.device)
    return result.images_seen / (time.perf_counter() - started)


def bare_rate(trainer, data: InMemoryDataset, steps: int, precision: str) -> float:
    """img/s of ``steps`` calls of ``train_step`` on the same kind of batches (``batches_per_step`` of them per
    step), and nothing else."""
    sampler = torch.Generator(device=data.device).manual_seed(0)
    context = step_precision(precision, data.device)
    images = BATCH * batches_per_step(trainer)
    synchronize(data.device)
    started = time.perf_counter()
    for _ in range(steps):
        with context:
            trainer.train_step(data.sample(images, sampler))
    synchronize(data.device)
    return steps * images / (time.perf_counter() - started)


def loop_table(registry: Registry, data: InMemoryDataset, args: argparse.Namespace) -> list[dict]:
    """Prints zoo's and the bare loop's img/s per model and mode, and returns them as records."""
    rates: dict[tuple[str, str], float] = {}
    records = []
    print(f"{'model':<12} {'mode':<14} {'zoo img/s':>10} {'bare img/s':>11} {'zoo/bare':>9}")
    with tempfile.TemporaryDirectory() as folder:
        for model in args.models.split(","):
            for mode in args.modes.split(","):
                precision = mode.split("+")[0]
                zoo = zoo_rate(
                    trainer_for(registry, model, data, mode, args.warmup), data, args.steps, precision, Path(folder)
                )
                bare = bare_rate(trainer_for(registry, model, data, mode, args.warmup), data, args.steps, precision)
                rates[model, mode] = zoo
                records.append(dict(model=model, mode=mode, zoo_img_s=zoo, bare_img_s=bare, zoo_over_bare=zoo / bare))
                print(f"{model:<12} {mode:<14} {zoo:>10.0f} {bare:>11.0f} {zoo / bare:>9.3f}", flush=True)
    for model in args.models.split(","):
        pairs = [("bf16", "fp32"), ("fp32+compile", "fp32"), ("bf16+compile", "fp32")]
        ratios = [f"{a}/{b} {rates[model, a] / rates[model, b]:.2f}" for a, b in pairs if (model, a) in rates]
        if ratios and (model, "fp32") in rates:
            print(f"{model}: " + ", ".join(ratios) + " (zoo's loop)")
    return records


class BusySampler(threading.Thread):
    """Samples the device's busy share every half second until stopped: CUDA utilization, or /proc/stat."""

    def __init__(self, device: torch.device):
        super().__init__(daemon=True)
        self.device, self.samples, self.stopped = device, [], threading.Event()

    def run(self) -> None:
        previous = _cpu_times()
        while not self.stopped.wait(0.5):
            if self.device.type == "cuda":
                self.samples.append(torch.cuda.utilization(self.device) / 100)
            else:
                now = _cpu_times()
                busy, total = now[0] - previous[0], now[1] - previous[1]
                self.samples.append(busy / total if total else 0.0)
                previous = now

    def share(self) -> float:
        return sum(self.samples) / max(len(self.samples), 1)


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def bench_command(device: torch.device, concurrency: int | None, folder: str, args: argparse.Namespace) -> list[str]:
    """``zoo bench`` of ``args.bench_profile`` into ``folder`` with ``concurrency`` cells at once (None: the bench's
    default)."""
    models = args.bench_models.split(",") if args.bench_models else ["--all"]
    command = [sys.executable, "-m", "zoo.cli", "bench", *models, "--profile", args.bench_profile]
    command += ["--results", f"{folder}/results", "--work-dir", f"{folder}/work", "--device", device.type]
    if concurrency is not None:
        command += ["--cells-per-device" if device.type == "cuda" else "--workers", str(concurrency)]
    command += ["--seeds", str(args.bench_seeds)] if args.bench_seeds else []
    command += ["--dataset", args.bench_dataset] if args.bench_dataset else []
    command += ["--data-root", args.data_root] if args.data_root else []
    return command


def trained_images(results: Path) -> tuple[int, int, float]:
    """From a bench's ``results.csv`` (each cell at its last step; the real-data floor left out): the number of
    cells, the images they trained, and the mean over cells of images per training second."""
    rows = pd.read_csv(results)
    rows = rows[(rows["model"] != "real-data") & rows["train_seconds"].notna()]
    cells = rows.loc[rows.groupby(["model", "dataset", "seed"])["step"].idxmax()]
    return len(cells), int(cells["images_seen"].sum()), float((cells["images_seen"] / cells["train_seconds"]).mean())


def bench_busy_share(device: torch.device, concurrency: int | None, args: argparse.Namespace) -> dict:
    """Runs the bench with ``concurrency`` cells at once, sampling the device; prints and returns its figures."""
    with tempfile.TemporaryDirectory() as folder:
        command = bench_command(device, concurrency, folder, args)
        sampler = BusySampler(device)
        sampler.start()
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - started
        sampler.stopped.set()
        sampler.join()
        if done.returncode:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
        profile = profile_path(args.bench_profile).stem
        cells, images, cell_rate = trained_images(Path(folder, "results", profile, "results.csv"))
    what = "GPU utilization (NVML)" if device.type == "cuda" else "machine-wide CPU busy share (/proc/stat)"
    shown = " ".join(command[3:]).replace(folder, "TMP")
    print(
        f"`zoo {shown}`: {wall:.1f} s wall, {cells} cells, {images / wall:.0f} img/s trained over the wall time, "
        f"{cell_rate:.0f} img/s per cell while training; device busy {sampler.share():.0%} ({what}); "
        f"load {os.getloadavg()}",
        flush=True,
    )
    return dict(
        cells_at_once=concurrency, wall_s=wall, cells=cells, images=images, images_per_wall_s=images / wall,
        cell_images_per_train_s=cell_rate, busy_share=sampler.share(), busy_source=what,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", default="vanilla_gan,dcgan,wgan_gp,vae,cgan,infogan", help="'' to skip part 1")
    parser.add_argument("--modes", default="fp32,bf16,fp32+compile,bf16+compile")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--bench-profile", default="smoke", help="the profile whose bench is sampled ('' to skip)")
    parser.add_argument("--bench-models", default="", help="comma-separated; default: --all")
    parser.add_argument("--bench-seeds", type=int, default=None, help="the profile's first N seeds")
    parser.add_argument("--bench-dataset", default="", help="one of the profile's datasets; default: all of them")
    parser.add_argument(
        "--bench-cells-per-device", default="", help="comma-separated cells at once (on a CPU: --workers) [the bench's]"
    )
    parser.add_argument("--stacked", default="", help="stack sizes S (e.g. 1,3,8): part 1 is stacked vs separate seeds")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()

    device = resolve_device(args.device)
    registry = load_registry()
    images, labels = load_split(registry.datasets["mnist"], "train", root=args.data_root)
    data = InMemoryDataset(images, labels, device=device)
    print(
        f"device {device} ({torch.get_num_threads()} threads), batch {BATCH}, {args.steps} timed steps; "
        f"load average {os.getloadavg()}"
    )
    figures: dict = dict(device=describe_device(device), batch=BATCH, steps=args.steps, warmup=args.warmup)
    figures["loop"] = loop_table(registry, data, args) if args.models and not args.stacked else []
    if args.stacked:
        from stacked import comparison  # benchmarks/stacked.py, beside this script

        sizes = [int(size) for size in args.stacked.split(",")]
        figures["stacked"] = comparison(registry, data, args.models.split(","), sizes, args.steps, args.warmup, 1)
    concurrencies = [int(k) for k in args.bench_cells_per_device.split(",")] if args.bench_cells_per_device else [None]
    concurrencies = concurrencies if args.bench_profile else []
    figures["concurrency"] = [bench_busy_share(device, k, args) for k in concurrencies]
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
