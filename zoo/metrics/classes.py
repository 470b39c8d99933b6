"""Mode coverage and label accuracy, read from a domain classifier's logits on the scored samples.

* ``class_entropy``: entropy of the predicted-class histogram divided by ``log K``, in ``[0, 1]``; 1 when every
  class is predicted equally often, 0 when one class takes every sample.
* ``min_class_share``: the smallest class's share of the samples, in ``[0, 1]``; ``1/K`` when uniform.
* ``class_share_<k>`` for each class ``k``: the share of the samples predicted as class ``k``, in ``[0, 1]``, summing
  to 1: the whole histogram, which a report compares class by class with the reference's own class shares.
* ``label_accuracy``: conditional models only: the share of samples classified as the label they were drawn for.
* ``code_accuracy``: models with a categorical latent code of as many values as the classes only (InfoGAN's ``c1``,
  :func:`zoo.metrics.sampling.class_code`): how well the code captures the classes without labels. Each code value
  is mapped to a different class so that as many samples as possible are classified as their value's class (the best
  one-to-one mapping, found by the Hungarian algorithm); the share so classified. 1 when the code is the class; about
  ``1/K`` plus what the best mapping gains by chance when the code is ignored.

Higher is better for the entropy, the minimum share and the two accuracies. They are measured only when the
protocol's extractor classifies the dataset's own classes (:attr:`zoo.interfaces.ExtractorSpec.classifies_dataset`);
otherwise they are unavailable with the reason.
"""

from __future__ import annotations

import math

import torch

from zoo.metrics.protocol import Protocol
from zoo.metrics.values import MetricValue

CLASS_METRICS = ("class_entropy", "min_class_share")
CLASS_SHARE = "class_share_"
"""Prefix of the per-class share metrics: ``class_share_0`` ... ``class_share_<K-1>``."""
LABEL_ACCURACY = "label_accuracy"
CODE_ACCURACY = "code_accuracy"


def class_metrics(
    protocol: Protocol, logits: torch.Tensor | None, labels: torch.Tensor | None, codes: torch.Tensor | None = None
) -> dict[str, MetricValue]:
    """:data:`CLASS_METRICS` and the per-class shares (and ``label_accuracy`` when ``labels`` are given,
    ``code_accuracy`` when ``codes`` are) of samples whose extractor logits are ``logits`` (float ``[N, K]``, None
    when the extractor has none); ``labels``: int64 ``[N]``, the labels a conditional model drew the samples for (for
    real images, their own classes: the accuracy is then the classifier's), None for unconditional models;
    ``codes``: int64 ``[N]`` in ``[0, K)``, the categorical code value each sample was drawn with."""
    names = (
        CLASS_METRICS
        + ((LABEL_ACCURACY,) if labels is not None else ())
        + ((CODE_ACCURACY,) if codes is not None else ())
    )
    reason = _unavailable_reason(protocol, logits)
    if reason:
        return dict.fromkeys(names, MetricValue(None, reason))
    predicted = logits.argmax(dim=1).cpu()
    num_classes = logits.shape[1]
    shares = torch.bincount(predicted, minlength=num_classes).double() / len(predicted)
    present = shares[shares > 0]
    entropy = max(0.0, float(-(present * present.log()).sum()) / math.log(num_classes))  # never -0.0
    values = {"class_entropy": MetricValue(entropy), "min_class_share": MetricValue(float(shares.min()))}
    values.update({f"{CLASS_SHARE}{k}": MetricValue(float(share)) for k, share in enumerate(shares)})
    if labels is not None:
        values[LABEL_ACCURACY] = MetricValue(float((predicted == labels.cpu()).double().mean()))
    if codes is not None:
        values[CODE_ACCURACY] = MetricValue(code_accuracy(codes.cpu(), predicted, num_classes))
    return values


def code_accuracy(codes: torch.Tensor, predicted: torch.Tensor, num_classes: int) -> float:
    """The share of samples whose predicted class is their code value's class under the best one-to-one mapping of
    code values to classes. ``codes``, ``predicted``: int64 ``[N]`` in ``[0, num_classes)``."""
    counts = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    counts.index_put_((codes, predicted), torch.ones_like(codes), accumulate=True)
    return best_matching(counts.tolist()) / len(codes)


def best_matching(weights: list[list[int]]) -> int:
    """The largest ``sum(weights[i][match[i]])`` over permutations ``match`` of a square matrix: the Hungarian
    algorithm (Kuhn-Munkres with potentials, O(K^3)) on the costs ``max - weights``. Written out because SciPy's
    ``linear_sum_assignment`` is not a dependency of zoo (only of optional extras)."""
    k = len(weights)
    top = max((w for row in weights for w in row), default=0)
    cost = [[top - w for w in row] for row in weights]
    u, v = [0] * (k + 1), [0] * (k + 1)  # row and column potentials (1-based; 0 is a sentinel)
    row_of = [0] * (k + 1)  # row_of[j]: the row matched to column j (0: none yet)
    way = [0] * (k + 1)
    for i in range(1, k + 1):
        row_of[0], column = i, 0
        slack, used = [math.inf] * (k + 1), [False] * (k + 1)
        while row_of[column]:  # grow an alternating tree until it reaches a free column
            used[column] = True
            row, delta, nearest = row_of[column], math.inf, 0
            for j in range(1, k + 1):
                if not used[j]:
                    reduced = cost[row - 1][j - 1] - u[row] - v[j]
                    if reduced < slack[j]:
                        slack[j], way[j] = reduced, column
                    if slack[j] < delta:
                        delta, nearest = slack[j], j
            for j in range(k + 1):
                if used[j]:
                    u[row_of[j]] += delta
                    v[j] -= delta
                else:
                    slack[j] -= delta
            column = nearest
        while column:  # flip the path: each column on it takes the row of the column before
            previous = way[column]
            row_of[column] = row_of[previous]
            column = previous
    return sum(weights[row_of[j] - 1][j - 1] for j in range(1, k + 1))


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
