"""A built-in dataset zoo draws itself: ``shapes``, four classes of drawn shapes, the same on every machine.

It needs no data root and no download, so ``zoo bench --all --profile smoke`` runs the whole pipeline right after
install. Each image is 32x32 RGB: dark noise (each pixel and channel uniform in [0, 64)), and one filled shape in a
bright colour (each channel uniform in [128, 256)) of half-size ``r`` in [5, 10] pixels, centred anywhere it fits.
The classes are the shape: 0 square (``|dx|, |dy| <= r``), 1 disc (``dx² + dy² <= r²``), 2 triangle (apex up:
``2|dx| <= dy + r`` for ``|dy| <= r``), 3 plus sign (bars ``2r + 1`` long and ``2(r // 3) + 1`` wide). Classes
take turns (image ``i`` is class ``i mod 4``): 4,000 training and 1,000 test images.

Drawn with numpy's PCG64 from the seed ``[SEED, split number]`` and integer geometry only, so the images are
bit-identical wherever numpy is (the dataset plugin's code digest is part of every bench cell's key).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from zoo import DatasetSpec, hookimpl

SEED = 0
SIZE = 32
CLASSES = ("square", "disc", "triangle", "plus")
SPLITS = {"train": (0, 4000), "test": (1, 1000)}
"""Split name -> (its number in the seed, images)."""


@functools.cache
def draw_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 ``[N, 3, 32, 32]`` and labels int64 ``[N]`` of ``split`` (module docstring), drawn once a
    process."""
    number, count = SPLITS[split]
    rng = np.random.default_rng([SEED, number])
    labels = np.arange(count, dtype=np.int64) % len(CLASSES)
    images = rng.integers(0, 64, (count, 3, SIZE, SIZE), dtype=np.uint8)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    for image, label in zip(images, labels, strict=True):
        r = int(rng.integers(5, 11))
        cy, cx = (int(v) for v in rng.integers(r, SIZE - r, 2))
        colour = rng.integers(128, 256, 3, dtype=np.uint8)
        image[:, _mask(int(label), ys - cy, xs - cx, r)] = colour[:, None]
    return images, labels


def _mask(label: int, dy: np.ndarray, dx: np.ndarray, r: int) -> np.ndarray:
    """bool ``[32, 32]``: the pixels of shape ``label`` of half-size ``r`` at offsets ``dy``, ``dx`` from its centre."""
    inside = (np.abs(dy) <= r) & (np.abs(dx) <= r)
    if label == 0:
        return inside
    if label == 1:
        return dy * dy + dx * dx <= r * r
    if label == 2:
        return inside & (2 * np.abs(dx) <= dy + r)
    bar = r // 3
    return inside & ((np.abs(dx) <= bar) | (np.abs(dy) <= bar))


def load(root: Path, split: str, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``split`` as :class:`DatasetSpec` loads it; ``root`` and ``download`` are not used (nothing is on disk)."""
    images, labels = draw_split(split)
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.copy())


@hookimpl
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    register(
        DatasetSpec(
            name="shapes",
            image_shape=(3, SIZE, SIZE),
            num_classes=len(CLASSES),
            load=load,
            description="Drawn shapes (square, disc, triangle, plus) on noise, 4k train / 1k test, 32x32 RGB; made by "
            "zoo from a fixed seed, nothing to download: the smoke profile's dataset.",
        )
    )
