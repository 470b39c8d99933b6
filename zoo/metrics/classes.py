"""Mode coverage and label accuracy, read from a domain classifier's logits on the scored samples.

* ``class_entropy``: entropy of the predicted-class histogram divided by ``log K``, in ``[0, 1]``; 1 when every
  class is predicted equally often, 0 when one class takes every sample.
* ``min_class_share``: the smallest class's share of the samples, in ``[0, 1]``; ``1/K`` when uniform; below
  :data:`COLLAPSED_SHARE` a class counts as missing (a collapsed model).
* ``label_accuracy``: conditional models only: the share of samples classified as the label they were drawn for.

Higher is better for all three. They are measured only when the protocol's extractor classifies the dataset's own
classes (:attr:`zoo.interfaces.ExtractorSpec.classifies_dataset`); otherwise they are unavailable with the reason.
"""

from __future__ import annotations

import math

import torch

from zoo.metrics.protocol import Protocol
from zoo.metrics.values import MetricValue

CLASS_METRICS = ("class_entropy", "min_class_share")
LABEL_ACCURACY = "label_accuracy"
COLLAPSED_SHARE = 0.05
"""A class with a smaller share of the samples than this is missing (issue 12's "collapsed")."""


def class_metrics(
    protocol: Protocol, logits: torch.Tensor | None, labels: torch.Tensor | None
) -> dict[str, MetricValue]:
    """:data:`CLASS_METRICS` (and ``label_accuracy`` when ``labels`` are given) of samples whose extractor logits
    are ``logits`` (float ``[N, K]``, None when the extractor has none); ``labels``: int64 ``[N]``, the labels a
    conditional model drew the samples for, None for unconditional models and real images."""
    names = CLASS_METRICS + ((LABEL_ACCURACY,) if labels is not None else ())
    reason = _unavailable_reason(protocol, logits)
    if reason:
        return dict.fromkeys(names, MetricValue(None, reason))
    predicted = logits.argmax(dim=1).cpu()
    num_classes = logits.shape[1]
    shares = torch.bincount(predicted, minlength=num_classes).double() / len(predicted)
    present = shares[shares > 0]
    entropy = max(0.0, float(-(present * present.log()).sum()) / math.log(num_classes))  # never -0.0
    values = {"class_entropy": MetricValue(entropy), "min_class_share": MetricValue(float(shares.min()))}
    if labels is not None:
        values[LABEL_ACCURACY] = MetricValue(float((predicted == labels.cpu()).double().mean()))
    return values


def _unavailable_reason(protocol: Protocol, logits: torch.Tensor | None) -> str | None:
    counts = protocol.reference_class_counts
    if not protocol.classifies_dataset:
        return f"extractor {protocol.settings.extractor!r} does not classify {protocol.dataset}'s classes"
    if counts is None:
        return f"dataset {protocol.dataset!r} has no class labels"
    if logits is None:
        return f"extractor {protocol.settings.extractor!r} gives no logits"
    if logits.shape[1] != len(counts) or len(counts) < 2:
        return f"the extractor gives {logits.shape[1]} logits; {protocol.dataset} has {len(counts)} classes"
    return None
