"""Loading one split of a registered dataset, checked against what its spec promises."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from zoo.data.folder import FolderDataset
from zoo.data.root import resolve_data_root
from zoo.errors import PluginError, ZooError
from zoo.interfaces import DatasetSpec


def load_split(
    spec: DatasetSpec,
    split: str,
    root: str | Path | None = None,
    download: bool = False,
    limit: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 ``[N, *spec.image_shape]`` and labels int64 ``[N]`` of ``split``, from ``spec.load``.

    ``root`` is resolved with :func:`zoo.data.resolve_data_root`. ``limit`` keeps the first ``limit`` rows.
    Raises :class:`ZooError` for a split the dataset does not have or a bad ``limit``, whatever ``spec.load``
    raises (e.g. :class:`zoo.errors.DatasetNotFound`), and :class:`PluginError` naming the dataset when the
    plugin returns anything else than the spec promises; labels must lie in ``[0, num_classes)``, or be all
    zero for a dataset without classes.
    """
    if split not in spec.splits:
        raise ZooError(f"dataset {spec.name!r} has no split {split!r}; its splits: {', '.join(spec.splits)}")
    if limit is not None and limit < 1:
        raise ZooError(f"limit must be a positive number of images, not {limit}")
    result = spec.load(resolve_data_root(root), split, download)
    problem = _problem(spec, result)
    if problem:
        raise PluginError(f"dataset {spec.name!r} returned bad {split} data: {problem}")
    images, labels = result
    return (images, labels) if limit is None else (images[:limit], labels[:limit])


def random_subset(
    images: torch.Tensor, labels: torch.Tensor, n: int, *, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` rows of a split's ``images`` and ``labels`` drawn without replacement by a ``torch.Generator`` seeded
    with ``seed``, kept in the split's order; every row, as it is, when the split has no more than ``n``. A
    reference set or a real-data floor drawn so does not depend on how the split is ordered (an image folder read
    class by class, say), only on its content and the seed."""
    if len(images) <= n:
        return images, labels
    rows = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return images[rows], labels[rows]


def available_images(spec: DatasetSpec, root: str | Path | None = None, download: bool = False) -> Callable[
    [str, int], int
]:  # fmt: skip
    """``available(split, n)``: ``min(n, images in split)`` of ``spec``. An image folder's splits are counted
    without loading one (:attr:`FolderDataset.split_sizes`); any other split is loaded (:func:`load_split`), once
    per split and ``available``, and raises what that raises (missing files: :class:`zoo.errors.DatasetNotFound`)."""
    counted: dict[str, int] = {}

    def available(split: str, n: int) -> int:
        if isinstance(spec, FolderDataset) and split in spec.split_sizes:
            return min(n, spec.split_sizes[split])
        if split not in counted:
            counted[split] = len(load_split(spec, split, root=root, download=download)[0])
        return min(n, counted[split])

    return available


def _problem(spec: DatasetSpec, result: object) -> str | None:
    """What is wrong with ``spec.load``'s ``result``, or None."""
    if not (isinstance(result, tuple) and len(result) == 2 and all(isinstance(t, torch.Tensor) for t in result)):
        return f"expected a tuple (images, labels) of tensors, got {type(result).__name__}"
    images, labels = result
    expected = ["N", *spec.image_shape]
    if images.dtype != torch.uint8 or images.ndim != 4 or tuple(images.shape[1:]) != spec.image_shape:
        return f"images must be uint8 {expected}, got {images.dtype} {list(images.shape)}"
    if len(images) == 0:
        return "no images"
    if labels.dtype != torch.int64 or labels.shape != (len(images),):
        return f"labels must be int64 [{len(images)}], got {labels.dtype} {list(labels.shape)}"
    high = max(spec.num_classes, 1)
    if labels.min() < 0 or labels.max() >= high:
        return f"labels must lie in [0, {high}), got [{int(labels.min())}, {int(labels.max())}]"
    return None
