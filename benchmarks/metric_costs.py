"""Seconds per call of the pixel and memorisation metrics at their defaults, at one torch thread (a bench worker's
setting), on real MNIST:

* ``sliced_wasserstein``: the 10k test images against 10k train images;
* ``nearest``: 1000 test images against the 60k train images, 784 pixels each;
* ``intra_class_fid``: 10k stand-in features of ``--dims`` dimensions (96: the domain classifier's penultimate
  layer), 10 classes, against as many. Each class costs one torch-fidelity FID of that many dimensions (an
  eigendecomposition of a dims x dims matrix, in numpy's own threads): at Inception's 2048 that is ten plain FIDs.

    python benchmarks/metric_costs.py --data-root ../shared/datasets [--repeats 3] [--dims 96]

Prints the median of ``--repeats`` calls of each. Measure on a quiet machine: other processes' load inflates them.

Measured on this project's 2-core CPU (load average about 1 from other work): sliced_wasserstein 1.0 s, nearest
0.96 s; intra_class_fid (96 dimensions) 0.21 s with a load average of 6.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from zoo.data.formats import load_mnist_layout
from zoo.metrics.intra_class import intra_class_fid
from zoo.metrics.memorisation import nearest
from zoo.metrics.swd import sliced_wasserstein


def median_seconds(call: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dims", default="96")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, _ = load_mnist_layout(args.data_root, "train", False, folder="MNIST", torchvision_cls=None)
    test, _ = load_mnist_layout(args.data_root, "test", False, folder="MNIST", torchvision_cls=None)
    print(f"load average {os.getloadavg()[0]:.2f}, torch threads {torch.get_num_threads()}")

    seconds = median_seconds(lambda: sliced_wasserstein(test, train[:10000], seed=0), args.repeats)
    print(f"sliced_wasserstein, 10k vs 10k 28x28: {seconds:.2f} s")
    bank, queries = train.flatten(1).float() / 255, test[:1000].flatten(1).float() / 255
    seconds = median_seconds(lambda: nearest(queries, bank), args.repeats)
    print(f"nearest, 1000 queries vs 60k x 784: {seconds:.2f} s")
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(10).repeat(1000)
    for dims in map(int, args.dims.split(",")):
        samples, reference = torch.randn(2, 10000, dims, generator=generator).unbind(0)
        seconds = median_seconds(lambda: intra_class_fid(samples, labels, reference, labels, 10), args.repeats)  # noqa: B023
        print(f"intra_class_fid, 10k vs 10k, {dims} dims, 10 classes: {seconds:.2f} s")


if __name__ == "__main__":
    main()
