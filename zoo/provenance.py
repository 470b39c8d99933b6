"""What made a result: code version, library versions, machine. Recorded beside every run and result row."""

from __future__ import annotations

import functools
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from zoo.device import describe_device, machine_details

_LIBRARIES = ("genzoo", "torch", "torchvision", "torch-fidelity", "timm")


@functools.cache
def git_commit() -> str:
    """The zoo checkout's commit, suffixed ``-dirty`` when it has uncommitted changes; ``unknown`` outside git."""
    source = Path(__file__).resolve().parent.parent
    try:
        commit = _git(source, "rev-parse", "HEAD")
        dirty = _git(source, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()


def versions() -> dict[str, str]:
    """Installed versions of zoo and the libraries that shape its numbers."""
    found = {}
    for name in _LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def provenance(device: torch.device) -> dict[str, Any]:
    """Code, versions and machine, for a run's config or a result row.

    ``device_name`` is the one-line machine description a result row carries (CPU model, torch's CPU capability and
    threads; on CUDA the GPU, its driver and the CUDA version); ``machine`` the same facts as separate fields
    (:func:`zoo.device.machine_details`).
    """
    return {
        "git_commit": git_commit(),
        "versions": versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "device_name": describe_device(device),
        "machine": machine_details(device),
    }
