"""Readers for torchvision's on-disk dataset layouts: MNIST-style IDX files and CIFAR-10 python batches.

zoo reads the files itself and uses torchvision only to download them (``download=True``). So the ``.gz``
files alone are enough for MNIST (torchvision wants them decompressed), and a read does not re-hash every
file the way torchvision's CIFAR-10 class does (its md5 check would also reject any file not byte-identical
to the official one).
"""

from __future__ import annotations

import gzip
import math
import pickle
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.datasets import CIFAR10

from zoo.data.root import DATA_ROOT_ENV
from zoo.errors import DatasetNotFound, ZooError

_IDX_UINT8_MAGIC = b"\x00\x00\x08"  # two zero bytes, then the dtype code 0x08 (uint8); the 4th byte is ndim
_MNIST_PREFIX = {"train": "train", "test": "t10k"}
_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}


def read_idx(path: str | Path) -> torch.Tensor:
    """Read a uint8 IDX file (the MNIST format) into a uint8 tensor shaped by its header, e.g. ``[N, 28, 28]``.

    ``path`` names the uncompressed file; when that does not exist ``<path>.gz`` is read instead (a path that
    itself ends in ``.gz`` is read as gzip). Raises :class:`ZooError` when neither exists, for a bad gzip
    stream, a magic number other than uint8's, or a length that does not match the header's dims.
    """
    found = _existing_idx(Path(path))
    if found is None:
        raise ZooError(f"no IDX file {path} or {path}.gz")
    data = found.read_bytes()
    if found.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise ZooError(f"{found}: corrupt or truncated gzip file ({error})") from error
    if len(data) < 4 or data[:3] != _IDX_UINT8_MAGIC or data[3] == 0:
        magic = data[:4].hex() or "missing"
        raise ZooError(f"{found}: not a uint8 IDX file (magic number {magic}, expected 000008 then ndim)")
    ndim = data[3]
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise ZooError(f"{found}: truncated IDX file (its header is cut short at {len(data)} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:offset])
    if len(data) != offset + math.prod(dims):
        raise ZooError(
            f"{found}: truncated or corrupt IDX file ({len(data)} bytes; its header dims {list(dims)} "
            f"need {offset + math.prod(dims)})"
        )
    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims).copy())


def load_mnist_layout(
    root: Path, split: str, download: bool, *, folder: str, torchvision_cls: Callable[..., Any],
    debian: tuple[str, str] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Images uint8 ``[N, 1, H, W]`` and labels int64 ``[N]`` of ``split`` (``"train"`` or ``"test"``).

    Reads torchvision's MNIST layout ``root/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``;
    ``folder`` is the torchvision class name (``"MNIST"``, ``"FashionMNIST"``). Missing files are fetched
    with ``torchvision_cls(root, train=..., download=True)`` when ``download``, else
    :class:`DatasetNotFound` is raised, naming the ways to get them: ``debian``, ``(package, folder)`` of a Debian
    package that installs the same files, is one. Keyword-only ``folder``/``torchvision_cls``/``debian`` let a
    plugin bind them with :func:`functools.partial` and keep ``load(root, split, download)``.
    """
    raw = Path(root) / folder / "raw"
    prefix = _MNIST_PREFIX[split]
    paths = [raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"]
    _ensure_files(
        folder,
        split,
        raw,
        [f"{p.name}[.gz]" for p in paths if _existing_idx(p) is None],
        download,
        lambda: torchvision_cls(root, train=split == "train", download=True),
        also=f"install Debian's {debian[0]} and link its {debian[1]} as {raw}" if debian else "",
    )
    images, labels = (read_idx(p) for p in paths)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ZooError(
            f"{raw}: {split} images {list(images.shape)} and labels {list(labels.shape)} do not match "
            "(expected [N, H, W] and [N])"
        )
    return images.unsqueeze(1), labels.long()


def load_cifar10(root: Path, split: str, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 ``[N, 3, 32, 32]`` and labels int64 ``[N]`` of ``split`` (``"train"`` or ``"test"``).

    Reads torchvision's CIFAR-10 layout ``root/cifar-10-batches-py/{data_batch_1..5, test_batch}`` (the
    official "python version" archive, extracted). Missing files are fetched with
    ``torchvision.datasets.CIFAR10(root, train=..., download=True)`` when ``download``, else
    :class:`DatasetNotFound` is raised.
    """
    folder = Path(root) / _CIFAR_FOLDER
    paths = [folder / name for name in _CIFAR_BATCHES[split]]
    _ensure_files(
        "CIFAR10",
        split,
        folder,
        [p.name for p in paths if not p.is_file()],
        download,
        lambda: CIFAR10(root, train=split == "train", download=True),
    )
    images, labels = zip(*(_read_cifar_batch(p) for p in paths), strict=True)
    return torch.cat(images), torch.cat(labels)


def _existing_idx(path: Path) -> Path | None:
    """``path`` if it is a file, else ``<path>.gz`` if that is, else None."""
    return next((p for p in (path, path.with_name(path.name + ".gz")) if p.is_file()), None)


def _ensure_files(
    label: str, split: str, folder: Path, missing: list[str], download: bool, fetch: Callable[[], object],
    also: str = "",
) -> None:  # fmt: skip
    """Return when nothing is ``missing``; else ``fetch()`` them if ``download``, else raise DatasetNotFound naming
    the ways to get them (``also``: one more, in words)."""
    if not missing:
        return
    elsewhere = f"point --data-root / {DATA_ROOT_ENV} at a folder that has them"
    if not download:
        raise DatasetNotFound(
            f"{label}: no {split} files in {folder} (looked for {', '.join(missing)}); pass --download to fetch "
            f"them with torchvision (needs internet), or {also + ', or ' if also else ''}copy the files there, or "
            f"{elsewhere}"
        )
    try:
        fetch()
    except (OSError, RuntimeError) as error:  # torchvision's download errors: URLError, "Error downloading ..."
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0].rstrip(" :")
        raise DatasetNotFound(
            f"{label}: downloading the {split} files into {folder} failed ({reason}); copy the files there, "
            f"or {elsewhere}"
        ) from error


# CIFAR-10's batches are pickled dicts; they are data, so only the globals numpy needs to rebuild a uint8 array
# are allowed: a tampered file then fails to load instead of running code. numpy's array-rebuilding function
# is taken from ndarray.__reduce__ because its module moved (numpy.core -> numpy._core) in numpy 2.
_NP_RECONSTRUCT = np.empty(0).__reduce__()[0]
_CIFAR_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _NP_RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _NP_RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _CifarUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _CIFAR_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")
        return _CIFAR_GLOBALS[module, name]


def _read_cifar_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch file: a dict with ``b"data"`` uint8 ``[n, 3072]`` (R, G, B planes) and ``b"labels"`` (n ints)."""
    try:
        with open(path, "rb") as handle:
            # encoding="bytes": the official files are Python 2 pickles; their str keys become bytes
            entry = _CifarUnpickler(handle, encoding="bytes").load()
        data, labels = entry[b"data"], torch.tensor(entry[b"labels"], dtype=torch.long)
        if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.shape == (len(labels), 3072)):
            raise ValueError(f"b'data' is not a uint8 array [{len(labels)}, 3072]")
    except Exception as error:  # noqa: BLE001 - whatever a damaged file makes the unpickler raise
        raise ZooError(f"{path}: not a readable CIFAR-10 batch ({type(error).__name__}: {error})") from error
    return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()), labels
