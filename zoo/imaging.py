"""Conversions between zoo's two image representations, and sample grids.

* stored / scored: uint8 ``[N, C, H, W]`` in ``[0, 255]``
* trained / generated: float ``[N, C, H, W]`` in ``[-1, 1]``
"""

from __future__ import annotations

import math
from pathlib import Path

import PIL.Image
import torch
import torchvision.utils

from zoo.fileio import atomic_path


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[0, 255]`` -> float32 ``[-1, 1]`` (``p / 127.5 - 1``), same shape and device."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float ``[-1, 1]`` -> uint8 ``[0, 255]``, rounding to nearest; values outside the range are clipped."""
    return ((images.detach().float() + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8)


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    """Write float ``[-1, 1]`` images ``[N, C, H, W]`` as one PNG grid (``nrow`` per row, default ~sqrt(N)).

    Written atomically (see :func:`zoo.fileio.atomic_path`).
    """
    path = Path(path)
    nrow = nrow or max(1, math.isqrt(images.shape[0]))
    grid = torchvision.utils.make_grid(to_uint8(images).cpu(), nrow=nrow, padding=2, pad_value=255)
    with atomic_path(path) as tmp:
        PIL.Image.fromarray(grid.permute(1, 2, 0).numpy()).save(tmp, format="PNG")
    return path
