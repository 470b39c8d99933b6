"""Precision and recall of generated features against real ones (Kynkäänniemi et al. 2019): torch-fidelity's
definition and numbers, with the real side's neighbourhood radii computed once per reference.

torch-fidelity's ``prc_featuresdict_to_metric`` (with ``save_cpu_ram=True``, as zoo calls its metrics) gives each
point a ball reaching its ``k``-th nearest neighbour in its own set: ``kthvalue(k + 1)`` of its row of
``torch.cdist`` distances, computed in blocks of ``batch_size`` rows. Recall is the share of real points inside some
generated point's ball, precision the share of generated points inside some real point's ball. The functions here
compute the same distance blocks (torch-fidelity's ``calc_cdist_part``) and the same comparisons, so on the CPU they
give the same numbers bit for bit (tests/test_metrics.py), with three changes of cost only: the ``k``-th distance is
picked with ``topk`` (the same element; several times faster than ``kthvalue`` on the CPU); the real radii are an
argument, so a caller that scores many samples against one reference computes them once (:func:`knn_radii`) and
keeps them (zoo caches them beside the reference features); and the distances stay on the features' device
(torch-fidelity copies each block to the CPU), so on a GPU the work runs where the features are.
"""

from __future__ import annotations

import torch
from torch_fidelity.defaults import DEFAULTS

BATCH_SIZE: int = DEFAULTS["prc_batch_size"]
"""Rows per distance block in zoo's precision/recall: torch-fidelity's default ``prc_batch_size``, which
``calculate_metrics`` uses when not told otherwise (the block size moves distances' last bits, so it is part of what
a cached radius depends on)."""


def _distances(rows: torch.Tensor, columns: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``torch.cdist(rows, columns)`` in blocks of ``batch_size`` columns, as torch-fidelity's ``calc_cdist_part``
    computes it, on the inputs' device."""
    return torch.cat([torch.cdist(rows, block) for block in columns.split(batch_size)], dim=1)


def knn_radii(features: torch.Tensor, neighborhood: int, batch_size: int) -> torch.Tensor:
    """Each row's distance to its ``neighborhood``-th nearest other row: float ``[N, D]`` -> float ``[N]`` on the same
    device (N greater than ``neighborhood``), distances in blocks of ``batch_size`` rows as torch-fidelity computes
    them."""
    if features.dim() != 2 or len(features) <= neighborhood:
        raise ValueError(f"knn_radii needs [N > {neighborhood}, D] features, got {list(features.shape)}")
    return torch.cat(
        [
            _distances(block, features, batch_size).topk(neighborhood + 1, dim=1, largest=False).values[:, -1]
            for block in features.split(batch_size)
        ]
    )


def covered_share(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, batch_size: int) -> float:
    """The share, in ``[0, 1]``, of ``points`` (float ``[N, D]``) inside at least one ball of ``centres`` (float
    ``[M, D]``) with ``radii`` (float ``[M]``, :func:`knn_radii` of the centres), a point on a ball's edge inside;
    all three on one device."""
    inside = [
        (_distances(block, centres, batch_size) <= radii).any(dim=1).float() for block in points.split(batch_size)
    ]
    return torch.cat(inside).mean().item()


def precision_recall(
    generated: torch.Tensor,
    real: torch.Tensor,
    real_radii: torch.Tensor,
    *,
    neighborhood: int,
    batch_size: int,
) -> tuple[float, float]:
    """(precision, recall), each in ``[0, 1]``, of ``generated`` features (float ``[N, D]``) against ``real`` ones
    (float ``[M, D]``) whose :func:`knn_radii` with the same ``neighborhood`` and ``batch_size`` are ``real_radii``:
    torch-fidelity's ``precision`` and ``recall`` for the same features and settings (all on one device)."""
    generated_radii = knn_radii(generated, neighborhood, batch_size)
    recall = covered_share(real, generated, generated_radii, batch_size)
    precision = covered_share(generated, real, real_radii, batch_size)
    return precision, recall
