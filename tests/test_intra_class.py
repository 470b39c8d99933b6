"""Intra-class FID: torch-fidelity's FID per class, averaged; it sees labels that FID cannot."""

from __future__ import annotations

import pytest
import torch
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric

from zoo.metrics.intra_class import intra_class_fid

CLASSES, DIM = 4, 16


def features(per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 ``[CLASSES * per_class, DIM]`` features, one Gaussian cluster per class (fixed centres), and labels."""
    centres = 3 * torch.randn(CLASSES, DIM, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(CLASSES).repeat_interleave(per_class)
    noise = torch.randn(len(labels), DIM, generator=torch.Generator().manual_seed(seed))
    return centres[labels] + noise, labels


def fid(a: torch.Tensor, b: torch.Tensor) -> float:
    return fid_statistics_to_metric(fid_features_to_statistics(a), fid_features_to_statistics(b), False)[KEY_METRIC_FID]


SAMPLES, REFERENCE = features(200, seed=1), features(300, seed=2)


def test_one_class_is_torch_fidelity_s_fid():
    (samples, _), (reference, _) = SAMPLES, REFERENCE
    value = intra_class_fid(samples, torch.zeros(len(samples)), reference, torch.zeros(len(reference)), 1)
    assert value == fid(samples, reference)


def test_swapped_labels_score_much_worse_while_fid_is_unchanged():
    (samples, labels), (reference, reference_labels) = SAMPLES, REFERENCE
    correct = intra_class_fid(samples, labels, reference, reference_labels, CLASSES)
    swapped = torch.where(labels == 0, 1, torch.where(labels == 1, 0, labels))
    wrong = intra_class_fid(samples, swapped, reference, reference_labels, CLASSES)
    assert wrong > 10 * correct > 0
    assert fid(samples, reference) < wrong / 10  # FID takes no labels: it cannot see the swap
    # the mean of the per-class FIDs, each torch-fidelity's
    per_class = [fid(samples[labels == k], reference[reference_labels == k]) for k in range(CLASSES)]
    assert correct == pytest.approx(sum(per_class) / CLASSES, rel=1e-12)


@pytest.mark.parametrize(
    ("sample_labels", "message"),
    [
        (torch.tensor([0, 0, 1, 1, 1, 1]), "class 2 has 0 samples"),
        (torch.tensor([0, 0, 1, 2, 2, 2]), "class 1 has 1 samples"),
        (torch.tensor([0, 0, 1, 1, 2, 3]), r"labels must be in \[0, 3\)"),
        (torch.tensor([0, 0, 1, 1, 2]), "one per feature row"),
    ],
)
def test_refuses_classes_without_two_rows_and_wrong_labels(sample_labels, message):
    reference, reference_labels = torch.randn(9, 2), torch.arange(3).repeat(3)
    with pytest.raises(ValueError, match=message):
        intra_class_fid(torch.randn(6, 2), sample_labels, reference, reference_labels, 3)
