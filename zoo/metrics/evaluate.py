"""Score generated images against reference images with ``torch_fidelity.calculate_metrics``, in memory.

Reference features are cached on disk through torch-fidelity's own cache (``cache_root`` + ``input2_cache_name``;
see :func:`reference_cache_name`). A real-vs-real baseline is the same call with real images (e.g. a train
subset) as ``samples_u8``.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch_fidelity
from torch.utils.data import Dataset

from zoo.errors import ZooError
from zoo.interfaces import ExtractorSpec
from zoo.metrics.extractors import register_with_torch_fidelity
from zoo.metrics.hashing import sha256_file, sha256_tensor
from zoo.metrics.protocol import Protocol

METRIC_KEYS: dict[str, str] = {
    "fid": torch_fidelity.KEY_METRIC_FID,
    "is_mean": torch_fidelity.KEY_METRIC_ISC_MEAN,
    "is_std": torch_fidelity.KEY_METRIC_ISC_STD,
    "kid_mean": torch_fidelity.KEY_METRIC_KID_MEAN,
    "kid_std": torch_fidelity.KEY_METRIC_KID_STD,
    "precision": torch_fidelity.KEY_METRIC_PRECISION,
    "recall": torch_fidelity.KEY_METRIC_RECALL,
}
"""zoo's metric names -> torch-fidelity's result keys."""


@dataclass(frozen=True)
class MetricValue:
    """A metric's value, or None with the ``reason`` it could not be computed (exactly one of the two is set)."""

    value: float | None
    reason: str | None = None

    def __post_init__(self) -> None:
        if (self.value is None) == (self.reason is None):
            raise ValueError("a MetricValue has either a value or a reason, not both or neither")

    @property
    def available(self) -> bool:
        return self.value is not None


class UInt8Images(Dataset):
    """uint8 ``[N, C, H, W]`` images as a Dataset of ``[C, H, W]`` uint8 tensors, the form torch-fidelity takes.

    With ``channels=3``, 1-channel images are repeated to 3 (grey as RGB); with None they are left as they are.
    """

    def __init__(self, images: torch.Tensor, channels: int | None = None):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"expected uint8 [N, C, H, W] images, got {images.dtype} {list(images.shape)}")
        if channels is not None and images.shape[1] not in (1, channels):
            raise ValueError(f"cannot make {images.shape[1]}-channel images into {channels} channels")
        self.images = images.cpu()
        self.channels = channels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self.images[index]
        return image.expand(self.channels, -1, -1) if self.channels else image


def reference_cache_name(reference_u8: torch.Tensor, protocol: Protocol) -> str:
    """torch-fidelity ``input2_cache_name`` for a reference set: protocol id + digest of the images' content.

    torch-fidelity names its cache files ``<name>-<extractor>-features-<layer>.pt`` (and ``-stat-fid-`` for FID
    statistics) and never checks what produced them; with this name any change of the images or of a protocol
    setting (weights digest included) selects different files instead of reusing stale ones.
    """
    return f"zoo-ref-{protocol.id}-{sha256_tensor(reference_u8)[:16]}"


def evaluate(
    samples_u8: torch.Tensor,
    *,
    reference_u8: torch.Tensor,
    protocol: Protocol,
    extractor: ExtractorSpec,
    weights_path: str | Path,
    cache_dir: str | Path,
    device: torch.device | str = "cpu",
    batch_size: int = 200,
    verbose: bool = False,
) -> dict[str, MetricValue]:
    """FID, IS, KID and precision/recall of ``samples_u8`` against ``reference_u8`` under ``protocol``.

    ``samples_u8``: uint8 ``[num_generated, C, H, W]``; ``reference_u8``: uint8 ``[num_reference, C, H, W]`` (the
    protocol's settings). ``extractor`` is the registered extractor the protocol names; ``weights_path`` its
    weights file, whose SHA-256 must equal ``protocol.weights_sha256``. Reference features are cached under
    ``cache_dir``, which must be trusted: torch-fidelity unpickles its cache files. ``device``: ``cpu`` or
    ``cuda[:i]``. torch-fidelity runs with ``save_cpu_ram=True``: no DataLoader worker processes, which only add
    overhead for in-memory tensors.

    Returns :data:`METRIC_KEYS`' names -> :class:`MetricValue`; a metric the extractor cannot give (the IS without
    a classifier layer) or a non-finite result is unavailable with a reason, never a number. Raises
    :class:`ZooError` for wrong weights or a different torch-fidelity version than the protocol's.
    """
    settings = protocol.settings
    if extractor.name != settings.extractor:
        raise ValueError(f"protocol {protocol.name!r} names extractor {settings.extractor!r}, not {extractor.name!r}")
    _check_images(samples_u8, settings.num_generated, "samples_u8")
    _check_images(reference_u8, settings.num_reference, "reference_u8")
    if samples_u8.shape[1:] != reference_u8.shape[1:]:
        raise ValueError(f"samples are {list(samples_u8.shape[1:])}, reference {list(reference_u8.shape[1:])}")
    if torch_fidelity.__version__ != protocol.torch_fidelity_version:
        raise ZooError(
            f"protocol {protocol.name!r} needs torch-fidelity {protocol.torch_fidelity_version}, "
            f"installed is {torch_fidelity.__version__}"
        )
    digest = sha256_file(weights_path)
    if digest != protocol.weights_sha256:
        raise ZooError(
            f"{weights_path} has sha256 {digest}, but protocol {protocol.name!r} needs {protocol.weights_sha256}"
        )
    register_with_torch_fidelity(extractor)
    cuda = _use_cuda(device)
    with torch.cuda.device(device) if cuda else contextlib.nullcontext():
        results = torch_fidelity.calculate_metrics(
            input1=UInt8Images(samples_u8, protocol.channels),
            input2=UInt8Images(reference_u8, protocol.channels),
            input2_cache_name=reference_cache_name(reference_u8, protocol),
            cache=True,
            cache_root=str(cache_dir),
            cuda=cuda,
            batch_size=batch_size,
            save_cpu_ram=True,
            isc=protocol.logits_layer is not None,
            fid=True,
            kid=True,
            prc=True,
            feature_extractor=settings.extractor,
            feature_extractor_weights_path=str(weights_path),
            feature_layer_isc=protocol.logits_layer,
            feature_layer_fid=protocol.feature_layer,
            feature_layer_kid=protocol.feature_layer,
            feature_layer_prc=protocol.feature_layer,
            isc_splits=settings.isc_splits,
            kid_subsets=settings.kid_subsets,
            kid_subset_size=settings.kid_subset_size,
            prc_neighborhood=settings.prc_neighborhood,
            rng_seed=settings.seed,
            verbose=verbose,
        )
    no_isc = MetricValue(None, extractor.no_logits_reason or f"protocol {protocol.name!r} has no logits layer")
    return {name: _metric_value(results[key]) if key in results else no_isc for name, key in METRIC_KEYS.items()}


def _metric_value(value: float) -> MetricValue:
    value = float(value)
    return MetricValue(value) if math.isfinite(value) else MetricValue(None, f"torch-fidelity returned {value}")


def _check_images(images: torch.Tensor, count: int, what: str) -> None:
    if images.dtype != torch.uint8 or images.dim() != 4 or len(images) != count:
        raise ValueError(f"{what} must be uint8 [{count}, C, H, W], got {images.dtype} {list(images.shape)}")


def _use_cuda(device: torch.device | str) -> bool:
    """Whether torch-fidelity runs on the GPU (``cuda=True``); it knows no other accelerator."""
    kind = torch.device(device).type
    if kind not in ("cpu", "cuda"):
        raise ZooError(f"metrics run on cpu or cuda, not {kind}")
    return kind == "cuda"
