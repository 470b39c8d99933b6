"""zoo's reference-feature cache: safetensors files (no code can ride in them), keyed and checked by content.

torch-fidelity's own cache is never used: it unpickles its files (``torch.load(weights_only=False)``) and names them
predictably, so a file planted in the work folder would run code. Here an entry's file name is the first 32 hex
digits of its key, the key is the SHA-256 of everything that determines the features (:func:`features_cache_key`),
and the file records the full key and the digest of its tensors, both checked on every read; an entry that fails a
check, or cannot be parsed, is recomputed and replaced. Writes are atomic (a temporary file renamed into place), so
several worker processes may fill the same entry at once: readers see a whole file or none, and every writer
writes the same content.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import safetensors
import safetensors.torch
import torch

from zoo.fileio import atomic_path
from zoo.hashing import sha256_json, sha256_tensor
from zoo.metrics.protocol import Protocol

Features = dict[str, torch.Tensor]
"""Feature name (an extractor layer) -> float ``[N, D]`` on the CPU."""


def features_cache_key(
    protocol: Protocol, images_sha256: str, *, machine: str, batch_size: int, quantity: str = "features"
) -> str:
    """Hex SHA-256 naming the features, under ``protocol``'s extractor, of the real images whose
    :func:`~zoo.hashing.sha256_tensor` is ``images_sha256`` (the reference images, or the training images that
    memorisation is measured against), computed on ``machine`` in batches of ``batch_size``; or, with another
    ``quantity`` (a name that says what and with which settings), a tensor computed from those features alone (the
    reference's precision/recall radii, the held-out images' nearest training distances).

    The protocol id covers the extractor and its weights' digest, the layers, zoo's metrics code version and
    torch-fidelity's version; torch's version, the machine (device, CPU or GPU model and capability, threads) and
    the batch size are added because they move the features' last bits, and a warm cache must give exactly what a
    cold one computes.
    """
    fields = {
        "protocol_id": protocol.id,
        "images_sha256": images_sha256,
        "metrics_code_version": protocol.metrics_code_version,
        "torch": torch.__version__,
        "machine": machine,
        "batch_size": batch_size,
        "quantity": quantity,
    }
    return sha256_json(fields)


def cached_features(cache_dir: str | Path, key: str, compute: Callable[[], Features]) -> Features:
    """The features stored under ``key`` (:func:`features_cache_key`) in ``cache_dir``, or ``compute()``, stored
    there, when no valid entry exists (see the module docstring for what "valid" means)."""
    path = Path(cache_dir) / f"{key[:32]}.safetensors"
    features = _read(path, key)
    if features is None:
        features = {name: tensor.detach().cpu().contiguous() for name, tensor in compute().items()}
        data = safetensors.torch.save(features, metadata={"key": key, "features_sha256": _digest(features)})
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    return features


def _read(path: Path, key: str) -> Features | None:
    """The entry at ``path`` if it parses as safetensors and its recorded key and tensor digest check out.

    The file is read once and parsed from memory, so a concurrent replacement or deletion is seen whole or not at
    all. Its metadata is the ``__metadata__`` of the JSON header that follows the header's 8-byte little-endian size.
    """
    try:
        data = path.read_bytes()
        header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
        features = safetensors.torch.load(data)
    except (OSError, ValueError, safetensors.SafetensorError):
        return None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict) or metadata.get("key") != key:
        return None
    return features if metadata.get("features_sha256") == _digest(features) else None


def _digest(features: Features) -> str:
    return sha256_json({name: sha256_tensor(tensor) for name, tensor in features.items()})
