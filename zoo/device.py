"""Choosing the device a run uses, and naming the machine it runs on for provenance."""

from __future__ import annotations

import functools
import platform
import re
import subprocess
from pathlib import Path

import torch

from zoo.errors import ZooError
from zoo.options import DEVICE_CHOICES


def resolve_device(choice: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU. Asking for ``cuda`` without one is a user error."""
    if choice not in DEVICE_CHOICES:
        raise ZooError(f"unknown device {choice!r}; use one of {', '.join(DEVICE_CHOICES)}")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ZooError("--device cuda was asked for, but torch sees no CUDA device")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def machine_details(device: torch.device) -> dict[str, str | int | None]:
    """What about the machine can move a result's last bits: the CPU model, torch's CPU capability (the vector
    instructions its kernels use, e.g. ``AVX2``, ``AVX512``), torch's intra-op thread count and, on CUDA, the GPU's
    name, its driver and the CUDA version torch was built with (None on the CPU)."""
    cuda = device.type == "cuda"
    return {
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(device) if cuda else None,
        "gpu_driver": _nvidia_driver(_cuda_index(device)) if cuda else None,
        "cuda": (torch.version.cuda or f"HIP {torch.version.hip}") if cuda else None,
    }


def describe_device(device: torch.device) -> str:
    """:func:`machine_details` in one line: ``AMD EPYC 7B13 (x86_64, AVX2, 2 threads)`` on the CPU,
    ``NVIDIA H100 80GB HBM3 (driver 550.54.15, CUDA 12.4; host AMD EPYC 7B13, AVX2)`` on CUDA."""
    details = machine_details(device)
    host = f"{details['cpu']}, {details['cpu_capability']}"
    if device.type == "cuda":
        return f"{details['gpu']} (driver {details['gpu_driver']}, CUDA {details['cuda']}; host {host})"
    return f"{details['cpu']} ({platform.machine()}, {details['cpu_capability']}, {details['threads']} threads)"


@functools.cache
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, ``sysctl`` on macOS, else what ``platform`` knows)."""
    system = platform.system()
    if system == "Linux":
        try:
            info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            info = ""
        for key in ("model name", "Model", "Hardware", "cpu model"):
            match = re.search(rf"^{key}\s*:\s*(.+?)\s*$", info, re.MULTILINE)
            if match:
                return match.group(1)
    if system == "Darwin":
        name = _run("sysctl", "-n", "machdep.cpu.brand_string")
        if name:
            return name
    return platform.processor() or platform.machine() or "unknown CPU"


def _cuda_index(device: torch.device) -> int:
    return torch.cuda.current_device() if device.index is None else device.index


@functools.cache
def _nvidia_driver(index: int) -> str:
    """The NVIDIA driver version of GPU ``index`` as ``nvidia-smi`` reports it, or ``unknown``."""
    return _run("nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader", f"--id={index}") or "unknown"


def _run(*command: str) -> str:
    """A command's stripped stdout, or an empty string when it is missing or fails."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
