"""Score samples against reference images: features by the protocol's extractor, metrics by torch-fidelity.

zoo extracts the features itself, with torch-fidelity's own extraction loop, and hands the feature dicts to
torch-fidelity's metric functions (``isc_featuresdict_to_metric``, ``fid_featuresdict_to_statistics`` +
``fid_statistics_to_metric``, ``kid_featuresdict_to_metric``; precision/recall by :mod:`zoo.metrics.precision_recall`,
torch-fidelity's ``prc_featuresdict_to_metric`` with the reference's radii kept), as ``calculate_metrics`` does with
``cache=False`` and ``save_cpu_ram=True``: the numbers are the same bit for bit, and torch-fidelity's pickled cache
is never read. Reference features, and what is computed from real images alone, are cached by zoo
(:mod:`zoo.metrics.cache`). A real-vs-real baseline is the same call with real images (e.g. a train subset) as the
samples.

Beside torch-fidelity's metrics, an evaluation point that is a run's last (``final=True``) adds what is read only
there: KID and precision/recall (torch-fidelity), the sliced Wasserstein distance in pixels (:mod:`zoo.metrics.swd`),
memorisation (:mod:`zoo.metrics.memorisation`) and, for a conditional generator, the intra-class FID
(:mod:`zoo.metrics.intra_class`). Earlier points give the FID, the IS and the class metrics, what the curves over
training read; so the costly metrics are computed once per run.

An evaluation leaves every global random state as it found it, so scoring never changes the rest of a training run.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch_fidelity
from torch.utils.data import Dataset
from torch_fidelity.metric_fid import fid_featuresdict_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_featuresdict_to_metric
from torch_fidelity.metric_kid import kid_featuresdict_to_metric
from torch_fidelity.metric_prc import KEY_METRIC_PRECISION, KEY_METRIC_RECALL
from torch_fidelity.utils import get_featuresdict_from_dataset

from zoo.device import describe_device
from zoo.errors import ZooError
from zoo.hashing import sha256_file, sha256_json, sha256_tensor
from zoo.imaging import save_grid, to_unit_range
from zoo.interfaces import ExtractorSpec
from zoo.metrics.cache import Features, cached_features, features_cache_key
from zoo.metrics.classes import class_metrics
from zoo.metrics.intra_class import intra_class_fid
from zoo.metrics.memorisation import COPY_SAMPLES, copy_share, nearest, neighbour_pairs, pixel_vectors
from zoo.metrics.precision_recall import BATCH_SIZE, knn_radii, precision_recall
from zoo.metrics.protocol import Protocol, ProtocolSettings
from zoo.metrics.randomness import preserved_random_state
from zoo.metrics.sampling import Samples
from zoo.metrics.swd import sliced_wasserstein
from zoo.metrics.values import MetricValue

METRIC_KEYS: dict[str, str] = {
    "fid": torch_fidelity.KEY_METRIC_FID,
    "is_mean": torch_fidelity.KEY_METRIC_ISC_MEAN,
    "is_std": torch_fidelity.KEY_METRIC_ISC_STD,
    "kid_mean": torch_fidelity.KEY_METRIC_KID_MEAN,
    "kid_std": torch_fidelity.KEY_METRIC_KID_STD,
    "precision": torch_fidelity.KEY_METRIC_PRECISION,
    "recall": torch_fidelity.KEY_METRIC_RECALL,
}
"""zoo's names of torch-fidelity's metrics -> torch-fidelity's result keys."""
FINAL_ONLY = ("kid_mean", "kid_std", "precision", "recall")
"""torch-fidelity's metrics computed only at a run's final evaluation point (the costly ones: KID's subsets,
precision/recall's k-NN balls), beside :data:`SWD`, :data:`COPY_SHARES` and :data:`IFID`."""
SWD = "swd"
"""Metric name: the sliced Wasserstein distance (x10^3) between samples and reference in pixels, on Laplacian-pyramid
patches (:func:`zoo.metrics.swd.sliced_wasserstein`); lower is better. Sees pixel noise a classifier's features
are trained to ignore."""
COPY_SHARES = {"features": "copy_share_features", "pixels": "copy_share_pixels"}
"""Space -> metric name: the share of (up to :data:`~zoo.metrics.memorisation.COPY_SAMPLES`) samples closer to their
nearest training image than held-out real images sit to theirs (:func:`zoo.metrics.memorisation.copy_share`), in
the extractor's features and in pixels; about the quantile for held-out real images, 1 for copies; lower is
better."""
IFID = "ifid"
"""Metric name: the intra-class FID of a conditional generator (:func:`zoo.metrics.intra_class.intra_class_fid`)."""
OUT_OF_RANGE = "out_of_range_share"
"""Metric name: the share of a generator's output values outside ``[-1, 1]`` (0 for a generator that keeps its
contract); the images are clipped before scoring, this row makes the breach visible. Lower is better."""


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


def evaluate(
    samples: Samples,
    *,
    reference_u8: torch.Tensor,
    protocol: Protocol,
    extractor: ExtractorSpec,
    weights_path: str | Path | None,
    cache_dir: str | Path,
    device: torch.device | str = "cpu",
    batch_size: int = 200,
    verbose: bool = False,
    final: bool = True,
    reference_labels: torch.Tensor | None = None,
    train_u8: torch.Tensor | None = None,
    neighbours_path: Path | None = None,
) -> dict[str, MetricValue]:
    """Every metric of ``samples`` against ``reference_u8`` under ``protocol``.

    ``samples.images``: uint8 ``[num_generated, C, H, W]``; ``reference_u8``: the protocol's reference images, uint8
    ``[num_reference, C, H, W]`` (their digest must be the protocol's). ``extractor`` is the registered extractor
    the protocol names; ``weights_path`` its weights file, whose SHA-256 must equal ``protocol.weights_sha256``
    (None for an extractor run without weights: then the protocol's digest must be None too).
    Reference features, and what is computed from real images alone (the reference's precision/recall radii, the
    held-out images' nearest training distances), are cached under ``cache_dir`` (safetensors, checked on read).
    ``device``: ``cpu`` or ``cuda[:i]``; features are extracted in batches of ``batch_size`` in this process (no
    DataLoader workers).

    ``final``: the run's last evaluation point, scored in full; otherwise :data:`FINAL_ONLY`, :data:`SWD`,
    :data:`COPY_SHARES` and :data:`IFID` are left out. ``reference_labels``: int64 ``[num_reference]``, the reference
    images' classes (for the intra-class FID; None: not computed). ``train_u8``: the training split's images, uint8
    ``[T, C, H, W]``, against which memorisation is measured (None: not measured); when ``samples.from_training_set``
    (the real-data floor), held-out reference images stand in for the samples there. ``neighbours_path``: where to
    write the grid of the samples nearest the training set beside their nearest training images (final points with
    ``train_u8`` only).

    Returns metric name -> :class:`MetricValue`: :data:`METRIC_KEYS`' names (FID, IS, KID, precision/recall), the
    class metrics of :mod:`zoo.metrics.classes` (``label_accuracy`` only when ``samples.labels`` is given,
    ``code_accuracy`` only when ``samples.codes`` is), and
    :data:`OUT_OF_RANGE` when ``samples.out_of_range`` is given. A metric the protocol cannot give (the IS without a
    classifier layer, class metrics without a dataset classifier) or a non-finite result is unavailable with a
    reason, never a number. Raises :class:`ZooError` for wrong weights or a different torch-fidelity version than
    the protocol's, ValueError for images that are not the protocol's. Every global random state is left as it was.
    """
    settings = protocol.settings
    if extractor.name != settings.extractor:
        raise ValueError(f"protocol {protocol.name!r} names extractor {settings.extractor!r}, not {extractor.name!r}")
    _check_images(samples.images, settings.num_generated, "samples")
    _check_images(reference_u8, settings.num_reference, "reference_u8")
    if samples.images.shape[1:] != reference_u8.shape[1:]:
        raise ValueError(f"samples are {list(samples.images.shape[1:])}, reference {list(reference_u8.shape[1:])}")
    if sha256_tensor(reference_u8) != protocol.reference_sha256:
        raise ValueError(f"reference_u8 are not the reference images of protocol {protocol.name!r} (sha256 differs)")
    if torch_fidelity.__version__ != protocol.torch_fidelity_version:
        raise ZooError(
            f"protocol {protocol.name!r} needs torch-fidelity {protocol.torch_fidelity_version}, "
            f"installed is {torch_fidelity.__version__}"
        )
    digest = None if weights_path is None else sha256_file(weights_path)
    if digest != protocol.weights_sha256:
        given = "no weights file" if weights_path is None else f"{weights_path} has sha256 {digest}"
        needed = "no weights file" if protocol.weights_sha256 is None else f"sha256 {protocol.weights_sha256}"
        raise ZooError(f"{given}, but protocol {protocol.name!r} needs {needed}")
    device = torch.device(device)
    cuda = _use_cuda(device)
    with preserved_random_state(), torch.cuda.device(device) if cuda else contextlib.nullcontext():
        layers = [layer for layer in (protocol.feature_layer, protocol.logits_layer) if layer is not None]
        weights = None if weights_path is None else str(weights_path)
        network = extractor.extractor(settings.extractor, layers, feature_extractor_weights_path=weights)
        network = network.requires_grad_(False).eval().to(device)

        def features_of(images: torch.Tensor) -> Features:
            dataset = UInt8Images(images, protocol.channels)
            return get_featuresdict_from_dataset(dataset, network, batch_size, cuda, True, verbose)

        machine = describe_device(device)

        def cached(digest: str, compute: Callable[[], Features], quantity: str = "features") -> Features:
            key = features_cache_key(protocol, digest, machine=machine, batch_size=batch_size, quantity=quantity)
            return cached_features(cache_dir, key, compute)

        reference_digest = protocol.reference_sha256  # checked equal to the images' above
        reference = cached(reference_digest, lambda: features_of(reference_u8))
        generated = features_of(samples.images)
        train_digest = sha256_tensor(train_u8) if final and train_u8 is not None else None
        train = cached(train_digest, lambda: features_of(train_u8)) if train_digest else None
    layer = protocol.feature_layer
    radii = None  # the reference's precision/recall radii, for a final point
    if final:
        k = settings.prc_neighborhood
        radii = cached(
            reference_digest,
            lambda: {"radii": knn_radii(reference[layer].to(device), k, BATCH_SIZE)},
            f"precision-recall radii k={k} batch={BATCH_SIZE}",
        )["radii"]
    values = _fidelity_metrics(generated, reference, protocol, extractor, verbose, radii, device)
    logits = generated[protocol.logits_layer] if protocol.logits_layer else None
    values.update(class_metrics(protocol, logits, samples.labels, samples.codes))
    if final:
        values[SWD] = _pixel_distance(samples.images, reference_u8, settings.seed)
        if train is not None:
            real = _Real(reference_u8, reference[layer], train_u8, train[layer])
            both = sha256_json([reference_digest, train_digest])
            heldout = cached(both, lambda: _heldout_nearest(real), f"held-out nearest n={_calibration_count(real)}")
            values.update(_memorisation(samples, generated[layer], real, heldout, neighbours_path))
        if samples.labels is not None and reference_labels is not None:
            values[IFID] = _intra_class_fid(generated, reference, samples.labels, reference_labels, protocol)
    if samples.out_of_range is not None:
        values[OUT_OF_RANGE] = MetricValue(samples.out_of_range)
    return values


def _pixel_distance(samples: torch.Tensor, reference: torch.Tensor, seed: int) -> MetricValue:
    """:data:`SWD`, or unavailable for images too small for its patches (the reason says so)."""
    try:
        return _metric_value(sliced_wasserstein(samples, reference, seed=seed))
    except ValueError as error:
        return MetricValue(None, str(error))


@dataclass(frozen=True)
class _Real:
    """The real images memorisation is measured against, as pixels (uint8 ``[N, C, H, W]``) and features."""

    reference: torch.Tensor
    reference_features: torch.Tensor
    train: torch.Tensor
    train_features: torch.Tensor


def _calibration_count(real: _Real) -> int:
    """How many reference images (the first ones; held out from training) calibrate what "close" is."""
    return min(COPY_SAMPLES, len(real.reference) // 2)


def _heldout_nearest(real: _Real) -> dict[str, torch.Tensor]:
    """Space (a key of :data:`COPY_SHARES`) -> the calibrating reference images' nearest-training-image distances,
    float64 ``[_calibration_count(real)]``: the same for every sample scored against ``real``, so cached."""
    heldout = slice(0, _calibration_count(real))
    return {
        "features": nearest(real.reference_features[heldout], real.train_features)[0],
        "pixels": nearest(pixel_vectors(real.reference[heldout]), pixel_vectors(real.train))[0],
    }


def _memorisation(
    samples: Samples,
    features: torch.Tensor,
    real: _Real,
    heldout: dict[str, torch.Tensor],
    neighbours_path: Path | None,
) -> dict[str, MetricValue]:
    """:data:`COPY_SHARES` of up to :data:`COPY_SAMPLES` samples: the first half of the reference images (held out
    from training; ``heldout``: their :func:`_heldout_nearest`) calibrates what "close" is; for the floor, whose
    samples are training images, the second half stands in for them. Writes the nearest pairs in pixels to
    ``neighbours_path`` when given."""
    calibrate = _calibration_count(real)
    if samples.from_training_set:
        queries = slice(calibrate, 2 * calibrate)
        query_pixels, query_features = real.reference[queries], real.reference_features[queries]
    else:
        count = min(COPY_SAMPLES, len(samples.images))
        query_pixels, query_features = samples.images[:count], features[:count]
    spaces = {
        "features": (query_features, real.train_features),
        "pixels": (pixel_vectors(query_pixels), pixel_vectors(real.train)),
    }
    values = {}
    for space, (queries, bank) in spaces.items():
        distances, indices = nearest(queries, bank)
        values[COPY_SHARES[space]] = MetricValue(copy_share(distances, heldout[space]))
        if space == "pixels" and neighbours_path is not None:
            pairs = neighbour_pairs(query_pixels, real.train, distances, indices)
            save_grid(to_unit_range(pairs), neighbours_path, nrow=2)
    return values


def _intra_class_fid(
    generated: Features, reference: Features, labels: torch.Tensor, reference_labels: torch.Tensor, protocol: Protocol
) -> MetricValue:
    counts = protocol.reference_class_counts
    if not protocol.classifies_dataset or not counts:
        return MetricValue(None, f"extractor {protocol.settings.extractor!r} does not classify the dataset's classes")
    layer = protocol.feature_layer
    try:
        value = intra_class_fid(generated[layer], labels, reference[layer], reference_labels, len(counts))
    except ValueError as error:
        return MetricValue(None, str(error))
    return _metric_value(value)


def _fidelity_metrics(
    generated: Features,
    reference: Features,
    protocol: Protocol,
    extractor: ExtractorSpec,
    verbose: bool,
    reference_radii: torch.Tensor | None,
    device: torch.device,
) -> dict[str, MetricValue]:
    """torch-fidelity's metric functions on the feature dicts, with :func:`metric_options`; :data:`FINAL_ONLY` only
    when ``reference_radii`` (the reference features' :func:`~zoo.metrics.precision_recall.knn_radii`) are given,
    precision/recall on ``device``."""
    options = metric_options(protocol.settings, verbose)
    layer = protocol.feature_layer
    results = {
        **fid_statistics_to_metric(
            fid_featuresdict_to_statistics(generated, layer), fid_featuresdict_to_statistics(reference, layer), verbose
        ),
    }
    final = reference_radii is not None
    if final:
        results.update(kid_featuresdict_to_metric(generated, reference, layer, **options))
        precision, recall = precision_recall(
            generated[layer].to(device),
            reference[layer].to(device),
            reference_radii.to(device),
            neighborhood=protocol.settings.prc_neighborhood,
            batch_size=BATCH_SIZE,
        )
        results.update({KEY_METRIC_PRECISION: precision, KEY_METRIC_RECALL: recall})
    if protocol.logits_layer is not None:
        results.update(isc_featuresdict_to_metric(generated, protocol.logits_layer, **options))
    no_isc = MetricValue(None, extractor.no_logits_reason or f"protocol {protocol.name!r} has no logits layer")
    keys = {name: key for name, key in METRIC_KEYS.items() if final or name not in FINAL_ONLY}
    return {name: _metric_value(results[key]) if key in results else no_isc for name, key in keys.items()}


def metric_options(settings: ProtocolSettings, verbose: bool = False) -> dict[str, Any]:
    """The keyword arguments zoo gives torch-fidelity's metric functions under ``settings``: those
    ``calculate_metrics`` would pass them (``save_cpu_ram=True``: precision/recall computed in parts)."""
    return dict(
        isc_splits=settings.isc_splits,
        samples_shuffle=True,
        kid_subsets=settings.kid_subsets,
        kid_subset_size=settings.kid_subset_size,
        prc_neighborhood=settings.prc_neighborhood,
        save_cpu_ram=True,
        rng_seed=settings.seed,
        verbose=verbose,
    )


def _metric_value(value: float) -> MetricValue:
    value = float(value)
    return MetricValue(value) if math.isfinite(value) else MetricValue(None, f"torch-fidelity returned {value}")


def _check_images(images: torch.Tensor, count: int, what: str) -> None:
    if images.dtype != torch.uint8 or images.dim() != 4 or len(images) != count:
        raise ValueError(f"{what} must be uint8 [{count}, C, H, W], got {images.dtype} {list(images.shape)}")


def _use_cuda(device: torch.device) -> bool:
    """Whether features are extracted on the GPU; torch-fidelity's loop knows no other accelerator."""
    if device.type not in ("cpu", "cuda"):
        raise ZooError(f"metrics run on cpu or cuda, not {device.type}")
    return device.type == "cuda"
