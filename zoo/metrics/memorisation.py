"""Copying of training images, in the spirit of Alaa et al. 2022 ("How Faithful is your Synthetic Data?",
authenticity): a sample is a likely copy when it sits closer to its nearest training image than almost every unseen
real image sits to its own. Unseen real images (a held-out split) set the yardstick, so the figure needs no
threshold in pixel or feature units and means the same in any space: held-out real data itself scores about
:data:`COPY_QUANTILE`, a model that returns training images scores 1.

* :func:`nearest`: exact L2 nearest neighbours of queries in a bank (:func:`pixel_vectors`, or features).
* :func:`copy_share`: the share of samples closer to the training set than the held-out yardstick.
* :func:`neighbour_pairs`: the closest samples beside their nearest training images, for a figure.
"""

from __future__ import annotations

import torch

COPY_QUANTILE = 0.05
"""The yardstick: a sample counts as a copy when its nearest-training-image distance is below this quantile of the
held-out real images' distances. Small, so that only samples nearer than almost all unseen real images count; not
smaller, so that chance alone moves the share little at the bench's sample counts: with 1000 samples of a model
that does not copy, the share's standard deviation is sqrt(0.05 * 0.95 / 1000) = 0.007, a seventh of the quantile
(at 0.01 it would be a third)."""
COPY_SAMPLES = 1000
"""At most this many samples are searched for copies, and at most this many held-out real images set the yardstick
(each :func:`nearest` against the whole training split, about a second at one thread for 1000 MNIST images in pixels:
benchmarks/metric_costs.py); see :data:`COPY_QUANTILE` for what the count gives."""
_CANDIDATES = 4
"""Nearest candidates per query kept from the float32 search and re-measured in float64 (see :func:`nearest`)."""


def pixel_vectors(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` -> float32 ``[N, C*H*W]`` in ``[0, 1]``: the pixel space :func:`nearest` searches."""
    return images.flatten(1).float().div_(255.0)


def nearest(queries: torch.Tensor, bank: torch.Tensor, *, chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """Each query's nearest bank row by Euclidean distance: float ``[N, D]`` queries, float ``[M, D]`` bank (same
    D, M >= 1, on the CPU or one device) -> (distances float64 ``[N]``, >= 0; indices int64 ``[N]`` into the bank).

    Squared distances are ``|q|^2 + |b|^2 - 2 q.b`` in float32, both sides shifted by the bank's mean (one matrix
    product per ``chunk`` x ``chunk`` block of queries and bank rows, so memory stays ``O(chunk^2)``); that form loses
    digits when two vectors are close, so each query's few nearest candidates are measured again as ``|q - b|`` in
    float64 and the nearest of those wins. Ties go to the lowest index among the candidates.
    """
    if queries.dim() != 2 or bank.dim() != 2 or queries.shape[1] != bank.shape[1] or len(bank) < 1:
        raise ValueError(
            f"queries [N, D] and bank [M >= 1, D] must share D, got {list(queries.shape)}, {list(bank.shape)}"
        )
    candidates, centre = min(_CANDIDATES, len(bank)), bank.float().mean(0)
    parts = [_nearest_block(block, bank, centre, candidates, chunk) for block in queries.split(chunk)]
    if not parts:
        return torch.empty(0, dtype=torch.float64), torch.empty(0, dtype=torch.int64)
    distances, indices = zip(*parts, strict=True)
    return torch.cat(distances), torch.cat(indices)


def _nearest_block(
    queries: torch.Tensor, bank: torch.Tensor, centre: torch.Tensor, candidates: int, chunk: int
) -> tuple[torch.Tensor, torch.Tensor]:
    queries32 = queries.float() - centre
    query_norms = queries32.square().sum(1, keepdim=True)
    best = torch.empty((len(queries), 0)), torch.empty((len(queries), 0), dtype=torch.int64)
    for start in range(0, len(bank), chunk):
        rows = bank[start : start + chunk].float() - centre
        squared = query_norms + rows.square().sum(1) - 2.0 * queries32 @ rows.T  # [n, rows]
        block = squared.topk(min(candidates, len(rows)), dim=1, largest=False)
        merged = torch.cat([best[0], block.values], 1), torch.cat([best[1], block.indices + start], 1)
        keep = merged[0].topk(min(candidates, merged[0].shape[1]), dim=1, largest=False).indices
        best = merged[0].gather(1, keep), merged[1].gather(1, keep)
    # re-measure the candidates exactly; among equal distances the lowest index wins
    order = best[1].sort(dim=1)
    exact = (queries.double().unsqueeze(1) - bank[order.values].double()).norm(dim=2)  # [n, candidates]
    distances, position = exact.min(dim=1)
    return distances, order.values.gather(1, position.unsqueeze(1)).squeeze(1)


def copy_share(
    sample_distances: torch.Tensor, heldout_distances: torch.Tensor, quantile: float = COPY_QUANTILE
) -> float:
    """The share, in ``[0, 1]``, of samples whose nearest-training-image distance (float ``[N]``, N >= 1) is strictly
    below the ``quantile`` (in ``(0, 1)``, linear interpolation) of held-out real images' nearest-training-image
    distances (float ``[M]``, M >= 1, measured the same way against the same training images)."""
    if len(sample_distances) < 1 or len(heldout_distances) < 1 or not 0 < quantile < 1:
        raise ValueError(f"copy_share needs distances on both sides and a quantile in (0, 1), got {quantile}")
    threshold = torch.quantile(heldout_distances.double(), quantile)
    return float((sample_distances.double() < threshold).double().mean())


def neighbour_pairs(
    samples: torch.Tensor, train: torch.Tensor, distances: torch.Tensor, indices: torch.Tensor, n: int = 8
) -> torch.Tensor:
    """The ``min(n, N)`` samples nearest to the training set, each followed by its nearest training image, nearest
    first: uint8 ``[2 * min(n, N), C, H, W]`` from uint8 samples ``[N, C, H, W]``, uint8 training images
    ``[M, C, H, W]`` and :func:`nearest`'s ``distances`` and ``indices`` for the samples (ties: lower sample index
    first). ``zoo.imaging.save_grid(zoo.imaging.to_unit_range(pairs), path, nrow=2)`` draws one pair a row."""
    if samples.dtype != torch.uint8 or train.dtype != torch.uint8 or samples.shape[1:] != train.shape[1:]:
        raise ValueError(
            f"samples and train must be uint8 [N, C, H, W] of one shape, got {samples.dtype} "
            f"{list(samples.shape)}, {train.dtype} {list(train.shape)}"
        )
    closest = distances.argsort(stable=True)[:n]
    return torch.stack([samples[closest], train[indices[closest]]], dim=1).flatten(0, 1)
