"""Choosing the device a run uses, and naming it for provenance."""

from __future__ import annotations

import platform

import torch

from zoo.errors import ZooError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(choice: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU. Asking for ``cuda`` without one is a user error."""
    if choice not in DEVICE_CHOICES:
        raise ZooError(f"unknown device {choice!r}; use one of {', '.join(DEVICE_CHOICES)}")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ZooError("--device cuda was asked for, but torch sees no CUDA device")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def describe_device(device: torch.device) -> str:
    """A human-readable name: the GPU model, or the CPU with its thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
