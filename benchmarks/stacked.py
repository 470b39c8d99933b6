"""Seeds stacked into one training process against the same seeds trained one after another, side by side.

For each model and each stack size S: S separate runs (seeds 0..S-1, each through ``zoo.training.train``, one after
the other) against one stack of the same S seeds (``zoo.stacked.train_stacked``): the same steps, batches, noise and
updates for every seed, on the same in-memory MNIST, no checkpoints or evaluation on either side. Only the loops are
timed (not building the trainers); each side first takes ``--warmup`` steps of a throwaway run of its own kind
(oneDNN and cuDNN make their kernels then). ``--repeats`` alternates the two sides and reports each side's median.
Prints seconds, images per second (all seeds together) and the ratio stacked / separate (below 1: stacking is
faster). Models that cannot be stacked are listed with their reason.

    nice -n 19 python benchmarks/stacked.py --data-root ../shared/datasets [--models dcgan,wgan_gp] [--stack 3]
        [--steps 100] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch

from zoo import create_trainer
from zoo.data import InMemoryDataset, load_split
from zoo.device import resolve_device
from zoo.interfaces import ModelSpec
from zoo.plugins import Registry, load_registry
from zoo.stacked import build_members, refusal, train_stacked
from zoo.training import batches_per_step, train

BATCH = 64
SHAPE, CLASSES = (1, 28, 28), 10


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, work: Callable[[], object]) -> float:
    synchronize(device)
    started = time.perf_counter()
    work()
    synchronize(device)
    return time.perf_counter() - started


def separate_seconds(spec: ModelSpec, data: InMemoryDataset, seeds: range, steps: int) -> float:
    """Seconds of ``steps`` steps of each seed's separate run, one after the other (their builds not counted)."""
    total = 0.0
    for seed in seeds:
        trainer = create_trainer(
            spec, SHAPE, CLASSES, hparams=spec.resolve_hparams("mnist"), seed=seed, device=data.device
        )
        options = dict(steps=steps, batch_size=BATCH, seed=seed, progress=False)
        total += timed(data.device, lambda: train(trainer, data, **options))  # noqa: B023 - called at once
    return total


def stacked_seconds(spec: ModelSpec, data: InMemoryDataset, seeds: range, steps: int) -> float:
    """Seconds of ``steps`` steps of the stack of ``seeds`` (its build not counted)."""
    hparams = spec.resolve_hparams("mnist")
    members = build_members(spec, SHAPE, CLASSES, hparams=hparams, seeds=list(seeds), device=data.device)
    return timed(data.device, lambda: train_stacked(members, data, steps=steps, batch_size=BATCH, progress=False))


def comparison(
    registry: Registry,
    data: InMemoryDataset,
    models: list[str],
    sizes: list[int],
    steps: int,
    warmup: int,
    repeats: int,
) -> list[dict]:
    """Prints the table (module docstring) and returns its rows as records (a refused model: its ``refused``
    reason)."""
    device = data.device
    print(f"{'model':<12} {'S':>2} {'separate s':>11} {'stacked s':>10} {'sep. img/s':>11} {'stk. img/s':>11} "
          f"{'stacked/separate':>17}")  # fmt: skip
    records = []
    for model in models:
        spec = registry.models[model]
        probe = create_trainer(spec, SHAPE, CLASSES, hparams=spec.resolve_hparams("mnist"), device=device)
        reason = refusal(probe)
        if reason:
            print(f"{model:<12} refused: {reason}")
            records.append(dict(model=model, refused=reason))
            continue
        for size in sizes:
            seeds = range(size)
            separate_seconds(spec, data, range(1), warmup)
            stacked_seconds(spec, data, seeds, warmup)
            separate, stacked = [], []
            for _ in range(repeats):
                separate.append(separate_seconds(spec, data, seeds, steps))
                stacked.append(stacked_seconds(spec, data, seeds, steps))
            alone, together = statistics.median(separate), statistics.median(stacked)
            images = size * steps * BATCH * batches_per_step(probe)
            print(f"{model:<12} {size:>2} {alone:>11.2f} {together:>10.2f} {images / alone:>11.0f} "
                  f"{images / together:>11.0f} {together / alone:>17.3f}", flush=True)  # fmt: skip
            records.append(dict(model=model, stack=size, separate_s=alone, stacked_s=together,
                                separate_img_s=images / alone, stacked_img_s=images / together,
                                stacked_over_separate=together / alone))  # fmt: skip
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", default="vanilla_gan,dcgan,wgan_gp,cgan,vae,infogan")
    parser.add_argument("--stack", default="3", help="stack sizes S, comma-separated (e.g. 1,3,8)")
    parser.add_argument("--steps", type=int, default=100, help="timed steps of every run")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    device = resolve_device(args.device)
    registry = load_registry()
    images, labels = load_split(registry.datasets["mnist"], "train", root=args.data_root)
    data = InMemoryDataset(images, labels, device=device, num_classes=CLASSES)
    print(f"device {device} ({torch.get_num_threads()} threads), batch {BATCH}, {args.steps} timed steps per run, "
          f"median of {args.repeats}; load average {os.getloadavg()}")  # fmt: skip
    sizes = [int(size) for size in args.stack.split(",")]
    comparison(registry, data, args.models.split(","), sizes, args.steps, args.warmup, args.repeats)
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
