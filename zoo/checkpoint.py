"""Saving and loading training state and generator weights, without unpickling arbitrary objects.

* ``checkpoint.pt``: everything needed to resume exactly (networks, optimisers, step, RNG states), written
  with ``torch.save`` and read back with ``torch.load(weights_only=True)``, which accepts only tensors and
  plain containers.
* ``generator.safetensors``: the generator's weights alone, the artefact to sample from or share.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from zoo.errors import ZooError
from zoo.fileio import atomic_path
from zoo.interfaces import Generator

CHECKPOINT_FORMAT = 1
_ZIP_MAGIC = b"PK\x03\x04"
"""The first bytes of a zip archive's first entry: every file ``torch.save`` writes starts with them."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Atomically write ``state`` (tensors, numbers, strings and containers of them only)."""
    with atomic_path(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp)


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, tensors mapped to ``device``.

    Raises :class:`ZooError`, in one line, for a missing file, one holding objects ``weights_only`` refuses (it
    could run code when unpickled; torch's own message, which suggests ``weights_only=False``, is not passed on),
    and a corrupt, truncated or foreign file. A file that is not a zip archive (what ``torch.save`` writes) is
    damaged, and reported so unread: ``weights_only`` would refuse random bytes as if they could run code.
    """
    way_out = "restore the checkpoint zoo wrote, or train afresh in another folder"
    damaged = f"cannot read checkpoint {path}: not a zoo checkpoint, or damaged"
    try:
        with open(path, "rb") as handle:
            is_archive = handle.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC
    except FileNotFoundError:
        raise ZooError(f"no checkpoint at {path}") from None
    if not is_archive:
        raise ZooError(f"{damaged} (not an archive torch.save wrote); {way_out}")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise ZooError(
            f"refused checkpoint {path}: it holds objects other than tensors and plain containers, which zoo never "
            f"unpickles (they could run code); {way_out}"
        ) from None
    except Exception as error:  # noqa: BLE001 - corrupt, truncated or not a checkpoint at all
        raise ZooError(f"{damaged} ({type(error).__name__}: corrupt or truncated); {way_out}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ZooError(f"{path} is not a zoo checkpoint (format {CHECKPOINT_FORMAT}); {way_out}")
    return state


def save_generator(path: Path, generator: Generator) -> None:
    """Atomically write the generator's weights as safetensors."""
    with atomic_path(path) as tmp:
        safetensors.torch.save_model(generator, str(tmp))


def load_generator(path: Path, generator: Generator) -> None:
    """Load weights from :func:`save_generator` into ``generator`` (built with the same config), strictly."""
    if not path.exists():
        raise ZooError(f"no generator weights at {path}")
    try:
        safetensors.torch.load_model(generator, str(path), strict=True, device=str(generator.device))
    except Exception as error:  # noqa: BLE001
        raise ZooError(f"cannot load generator weights {path}: {error}") from None
