"""Intra-class FID (StudioGAN's iFID) of a conditional model: for each class k, the FID between the features of the
samples drawn for label k and the features of the reference images of class k; the figure is the mean over classes.
A model that draws good images of the wrong class scores well on FID but badly here.

Each per-class figure is torch-fidelity's FID of those two feature subsets (``fid_features_to_statistics`` and
``fid_statistics_to_metric``, the functions :mod:`zoo.metrics.evaluate` uses for the whole set).
"""

from __future__ import annotations

import numpy as np
import torch
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric


def intra_class_fid(
    sample_features: torch.Tensor,
    sample_labels: torch.Tensor,
    reference_features: torch.Tensor,
    reference_labels: torch.Tensor,
    num_classes: int,
) -> float:
    """The mean over classes ``0..num_classes-1`` of the FID (>= 0, up to float error; lower is better) between the
    samples labelled k and the reference images labelled k: float32 CPU features ``[N, D]`` and ``[M, D]``, int labels
    ``[N]`` and ``[M]`` in ``[0, num_classes)``. Raises ValueError when a class has fewer than 2 rows on either side
    (a covariance needs two)."""
    if sample_features.dim() != 2 or sample_features.shape[1:] != reference_features.shape[1:]:
        raise ValueError(
            f"features must be [N, D] and [M, D], got {list(sample_features.shape)}, {list(reference_features.shape)}"
        )
    if sample_labels.shape != sample_features.shape[:1] or reference_labels.shape != reference_features.shape[:1]:
        raise ValueError("labels must be [N] and [M], one per feature row")
    for labels in (sample_labels, reference_labels):
        if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < num_classes:
            raise ValueError(f"labels must be in [0, {num_classes}), got {int(labels.min())}..{int(labels.max())}")
    fids = []
    for k in range(num_classes):
        samples, reference = sample_features[sample_labels == k], reference_features[reference_labels == k]
        if min(len(samples), len(reference)) < 2:
            raise ValueError(
                f"class {k} has {len(samples)} samples and {len(reference)} reference images, needs 2 each"
            )
        statistics = fid_features_to_statistics(samples), fid_features_to_statistics(reference)
        fids.append(fid_statistics_to_metric(*statistics, verbose=False)[KEY_METRIC_FID])
    return float(np.mean(fids))
