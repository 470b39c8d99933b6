"""Evaluation protocols: every setting that changes a metric's value, as one named, hashed record.

Two scores are comparable only when their protocol ids are equal.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch_fidelity

from zoo.metrics.extractors import extractor_info
from zoo.metrics.hashing import sha256_file, sha256_json


@dataclass(frozen=True)
class Protocol:
    """How metrics are computed.

    ``name`` is a human label and not part of :attr:`id`; every other field is a setting:

    * ``extractor``: torch-fidelity feature extractor name; ``weights_sha256``: hex SHA-256 of its weights file.
    * ``feature_layer``: its layer for FID/KID/precision/recall; ``logits_layer``: its layer for the Inception
      Score, None when it has none (the IS is then reported unavailable).
    * ``num_generated`` / ``num_reference``: sample counts; ``reference_split``: which split the reference images
      are (e.g. ``"mnist/test"``).
    * ``resize``: side length the extractor resizes images to (299 for Inception), None for native size.
    * ``isc_splits``; ``kid_subset_size`` and ``kid_subsets``; ``prc_neighborhood`` (k of the k-NN balls).
    * ``seed``: seeds drawing the generated samples and torch-fidelity's randomness (KID subsets, IS shuffle).
    * ``torch_fidelity_version``: the version that computes the metrics.
    """

    name: str
    extractor: str
    weights_sha256: str
    feature_layer: str
    logits_layer: str | None
    num_generated: int
    num_reference: int
    reference_split: str
    resize: int | None
    isc_splits: int = 10
    kid_subset_size: int = 1000
    kid_subsets: int = 100
    prc_neighborhood: int = 3
    seed: int = 0
    torch_fidelity_version: str = torch_fidelity.__version__

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

    def settings(self) -> dict[str, Any]:
        """Every field except ``name``, as JSON-ready values."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "name"}

    @property
    def id(self) -> str:
        """First 12 hex digits of the SHA-256 of :meth:`settings` as canonical JSON."""
        return sha256_json(self.settings())[:12]


def make_protocol(
    *,
    name: str,
    extractor: str,
    weights_path: str | Path,
    num_generated: int,
    num_reference: int,
    reference_split: str,
    seed: int = 0,
    isc_splits: int = 10,
    kid_subset_size: int = 1000,
    kid_subsets: int = 100,
    prc_neighborhood: int = 3,
) -> Protocol:
    """A :class:`Protocol` for a known extractor: layers and resize from its
    :class:`~zoo.metrics.extractors.ExtractorInfo`, the weights digest from ``weights_path``."""
    info = extractor_info(extractor)
    return Protocol(
        name=name,
        extractor=extractor,
        weights_sha256=sha256_file(weights_path),
        feature_layer=info.feature_layer,
        logits_layer=info.logits_layer,
        num_generated=num_generated,
        num_reference=num_reference,
        reference_split=reference_split,
        resize=info.resize,
        isc_splits=isc_splits,
        kid_subset_size=kid_subset_size,
        kid_subsets=kid_subsets,
        prc_neighborhood=prc_neighborhood,
        seed=seed,
    )
