"""Scoring under a profile's protocols: the reference each protocol needs, and every metric of some samples.

Used by every place that scores: a run's evaluation points (:class:`zoo.runs.Run`, so ``zoo train`` and each bench
cell), the bench's real-data floor, and ``zoo score`` (a run folder, or a folder of images). The same references and
the same call give the same numbers in all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from zoo.data import load_split, random_subset
from zoo.data.folder import default_cache_dir, load_image_folder
from zoo.data.loading import available_images
from zoo.errors import UsageError, ZooError
from zoo.interfaces import ExtractorSpec, Generator
from zoo.metrics import MetricValue, Protocol, Samples, evaluate, generate_samples
from zoo.plugins import Registry, prints_to_stderr

if TYPE_CHECKING:  # the bench package imports this module's users
    from zoo.bench.profiles import Profile


SAMPLE_BATCH = {"cpu": 500, "cuda": 5000}
"""Samples drawn per generator call when scoring (:func:`zoo.metrics.generate_samples`), by device type: large
on a GPU, where a call is cheap and each one synchronises. The batch size changes the latent draws, so every
scorer of a generator takes it from here."""


@dataclass(frozen=True)
class Reference:
    """One protocol resolved for one dataset: its extractor, the extractor's weights (None for an extractor run
    without), the reference images (uint8 ``[num_reference, C, H, W]``, a seeded subset of their split) and their
    labels (int64 ``[num_reference]``), and the dataset's training images (uint8 ``[T, C, H, W]``), against which
    memorisation is measured (None: the dataset has no train split)."""

    protocol: Protocol
    extractor: ExtractorSpec
    weights: Path | None
    images: torch.Tensor
    labels: torch.Tensor
    train: torch.Tensor | None


@dataclass(frozen=True)
class Score:
    """One metric under one protocol."""

    protocol: Protocol
    metric: str
    value: MetricValue

    def columns(self) -> dict[str, Any]:
        """The columns of a result row this score fills: protocol name and id, metric, value, status, reason."""
        return dict(
            protocol=self.protocol.name,
            protocol_id=self.protocol.id,
            metric=self.metric,
            value=self.value.value,
            status="ok" if self.value.available else "unavailable",
            reason=self.value.reason or "",
        )


def references(
    registry: Registry,
    profile: Profile,
    dataset: str,
    *,
    data_root: Path | None = None,
    only: Iterable[str] | None = None,
    echo: Callable[[str], None] = lambda line: None,
) -> list[Reference]:
    """Each protocol of ``profile`` that scores ``dataset`` (:meth:`Profile.protocols_for`; ``only``: these protocol
    names), resolved with its reference images (``num_reference`` of the dataset's reference split, drawn with the
    protocol's seed by :func:`zoo.data.random_subset`, so the split's order cannot bias them) and, for a third-party
    extractor, its plugin's code (:meth:`Registry.extractor_code`). Raises :class:`UsageError` for a
    protocol name the profile does not have for the dataset, :class:`ZooError` for a split too small for a protocol."""
    spec = registry.datasets[dataset]
    usable = profile.protocols_for(spec, registry.extractors, echo, available_images(spec, data_root))
    if only is not None:
        wanted, names = set(only), [s.name for s in usable]
        if unknown := sorted(wanted - set(names)):
            raise UsageError(
                f"profile {profile.name!r} has no protocol {', '.join(map(repr, unknown))} for {dataset}; it has "
                f"{', '.join(map(repr, names))}"
            )
        usable = tuple(s for s in usable if s.name in wanted)
    found = []
    train = None  # what the models train on (the profile's limit of it): memorisation's bank
    if usable and "train" in spec.splits:
        train = load_split(spec, "train", root=data_root, limit=profile.train_limit)[0]
    for settings in usable:
        weights = profile.weights_path(settings, dataset)
        images, labels = load_split(spec, settings.reference_split, root=data_root)
        images, labels = random_subset(images, labels, settings.num_reference, seed=settings.seed)
        if len(images) < settings.num_reference:
            raise ZooError(
                f"{dataset}/{settings.reference_split} has {len(images)} images; protocol {settings.name!r} "
                f"needs {settings.num_reference}"
            )
        protocol = Protocol.resolve(
            settings,
            dataset=dataset,
            extractor=registry.extractors[settings.extractor],
            weights_path=weights,
            reference_images=images,
            reference_labels=labels,
            num_classes=spec.num_classes,
            extractor_plugin=registry.extractor_code(settings.extractor),
        )
        found.append(Reference(protocol, registry.extractors[settings.extractor], weights, images, labels, train))
    return found


def score(
    refs: list[Reference],
    samples_for: Callable[[Protocol], Samples],
    *,
    cache_dir: Path,
    device: torch.device,
    final: bool = True,
    neighbours_path: Path | None = None,
) -> list[Score]:
    """Every metric under every protocol of ``refs``; ``samples_for(protocol)`` gives the samples to score under it.
    Features of real images are cached under ``cache_dir``. ``final``: a run's last point, scored in full (an
    earlier one leaves out what only the last is read for, :func:`zoo.metrics.evaluate`); ``neighbours_path``: where
    the nearest-neighbour pairs grid of memorisation goes."""
    scores = []
    for ref in refs:
        values = evaluate(
            samples_for(ref.protocol),
            reference_u8=ref.images,
            protocol=ref.protocol,
            extractor=ref.extractor,
            weights_path=ref.weights,
            cache_dir=cache_dir,
            device=device,
            final=final,
            reference_labels=ref.labels if ref.protocol.reference_class_counts else None,
            train_u8=ref.train,
            neighbours_path=neighbours_path,
        )
        scores.extend(Score(ref.protocol, metric, value) for metric, value in values.items())
    return scores


def sample_batch(device: torch.device) -> int:
    """:data:`SAMPLE_BATCH` for ``device``."""
    return SAMPLE_BATCH.get(device.type, SAMPLE_BATCH["cpu"])


def generator_samples(generator: Generator) -> Callable[[Protocol], Samples]:
    """The samples a protocol scores of ``generator``, drawn as every run's evaluation draws them (what the
    generator prints goes to stderr)."""
    batch = sample_batch(generator.device)

    def samples(protocol: Protocol) -> Samples:
        with prints_to_stderr():
            return generate_samples(generator, protocol, batch_size=batch)

    return samples


def folder_samples(folder: Path, image_shape: tuple[int, int, int], *, data_root: Path | None) -> Callable[
    [Protocol], Samples
]:  # fmt: skip
    """The samples a protocol scores from a folder of image files, read as ``image_shape`` (``(C, H, W)``, square):
    centre-cropped and resized like a ``folder:PATH`` dataset (:func:`zoo.data.folder.load_image_folder`), grey
    images repeated to three channels or RGB ones made grey (ITU-R 601 luma, as Pillow's ``L``) as the shape needs.
    A protocol of ``num_generated`` images takes a subset of that size drawn with its seed; a folder with fewer
    images is a :class:`UsageError`."""
    channels, height, width = image_shape
    if height != width:
        raise UsageError(f"images of {height}x{width} pixels: zoo scores folders of square images only")
    found = load_image_folder(folder, height, cache_dir=default_cache_dir(data_root), progress=False)
    images = torch.from_numpy(found.images[found.rows])
    if images.dim() == 3:
        images = images.unsqueeze(1)
    elif images.shape[-1] == 3:
        images = images.permute(0, 3, 1, 2)
    if images.shape[1] != channels:
        images = images.expand(-1, 3, -1, -1) if channels == 3 else _luma(images)

    def samples(protocol: Protocol) -> Samples:
        n = protocol.settings.num_generated
        if len(images) < n:
            raise UsageError(f"{folder} has {len(images)} readable images; protocol {protocol.name!r} scores {n}")
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(protocol.settings.seed))
        return Samples(images[order[:n]].contiguous())

    return samples


def _luma(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 ``[N, 3, H, W]`` to ``[N, 1, H, W]`` by Pillow's ``L`` conversion (``(R*299 + G*587 + B*114) / 1000``)."""
    weights = torch.tensor([299, 587, 114], dtype=torch.int64).view(1, 3, 1, 1)
    return ((rgb.to(torch.int64) * weights).sum(1, keepdim=True) + 500).div(1000, rounding_mode="floor").to(torch.uint8)
