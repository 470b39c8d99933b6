"""A folder of image files as a zoo dataset: uint8 ``[N, C, size, size]`` images, preprocessed once and cached.

Layouts, recognised by :func:`scan_image_folder`:

* class sub-folders ``root/<class>/**/<image>``: labels ``0..K-1`` in sorted class-name order;
* a flat folder ``root/<image>``: unlabelled (``num_classes`` 0, labels all zero);
* torchvision's CelebA, ``root/img_align_celeba/`` or ``root/celeba/img_align_celeba/``: only that folder's
  images are read, unlabelled; with ``list_eval_partition.txt`` beside it, its official split (0/1/2 =
  train/valid/test) is used.

Preprocessing (:data:`PREPROCESS_VERSION`, part of the cache key): EXIF orientation applied; an image whose PIL
mode is grey (base mode ``"L"``: 1, L, LA, I, I;16, F) becomes ``"L"`` (I and I;16 scaled from 16 bits by
1/257), any other (RGB, RGBA, P, CMYK, ...) ``"RGB"``; alpha is dropped. The largest centred square is cropped
(offsets rounded down) and resized to ``size x size`` with PIL's bicubic filter, which PIL antialiases when
downscaling. Channels: 1 when every image is grey, else 3 (grey images repeated, R = G = B), so a palette image
makes the dataset RGB even if its palette is grey.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import PIL.Image
import PIL.ImageMode
import PIL.ImageOps
import torch
from tqdm.auto import tqdm

from zoo.data.root import resolve_data_root
from zoo.errors import ZooError, ZooWarning
from zoo.fileio import atomic_path, write_json
from zoo.interfaces import DatasetSpec

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
PREPROCESS_VERSION = 1
CELEBA_IMAGES, CELEBA_PARTITION = "img_align_celeba", "list_eval_partition.txt"
_CELEBA_SPLITS = {"0": "train", "1": "valid", "2": "test"}
_PROGRESS_MIN_FILES, _CHUNK = 500, 1024  # a bar from this many files; files queued for the decoding threads at once
OnError = Literal["stop", "skip"]


class SkippedImagesWarning(ZooWarning):
    """Unreadable images were skipped (``on_error="skip"``); the message counts them and names the first few."""


class FolderCacheWarning(ZooWarning):
    """The preprocessed images could not be cached (the folder is then preprocessed again next time)."""


@dataclass(frozen=True)
class FolderIndex:
    """The images of a folder, before any is read.

    ``files``: paths relative to ``root`` (POSIX separators), sorted by string; ``stats``: ``(bytes, mtime_ns)``
    per file; ``labels``: per file, in ``[0, len(classes))``, all 0 when unlabelled; ``classes``: sorted class
    names (empty when unlabelled); ``official_splits``: per file ``"train"|"valid"|"test"`` (CelebA with its
    partition file), else None.
    """

    root: Path
    layout: Literal["classes", "flat", "celeba"]
    files: tuple[str, ...]
    stats: tuple[tuple[int, int], ...]
    labels: tuple[int, ...]
    classes: tuple[str, ...] = ()
    official_splits: tuple[str, ...] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass(frozen=True)
class FolderImages:
    """``images``: uint8 ``[M, C, size, size]`` (possibly a read-only memory map of the cache file) of the ``M``
    readable files; ``rows``: int64 ``[M]``, each image's index into ``index.files``; ``skipped``: ``(relative
    path, reason)`` of each unreadable file."""

    index: FolderIndex
    images: np.ndarray
    rows: np.ndarray
    skipped: tuple[tuple[str, str], ...]


def scan_image_folder(path: str | Path) -> FolderIndex:
    """Index the images under ``path`` (see the module docstring for layouts); nothing is decoded.

    Images are files with an extension in :data:`IMAGE_EXTENSIONS` (any case); names starting with ``"."`` are
    skipped, files and folders alike. Sub-folders without images are not classes. Raises :class:`ZooError` for a
    missing folder, a folder without images, images both at the top level and in sub-folders, and a CelebA
    partition file that is malformed or does not list an image.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ZooError(f"{root}: {'not a folder' if root.exists() else 'no such folder'}")
    root = root.resolve()
    for base in (root, root / "celeba"):
        if (base / CELEBA_IMAGES).is_dir():
            return _scan_celeba(base)
    top = _find_images(root, root, recursive=False)
    with os.scandir(root) as entries:
        subs = sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
    classes = {sub: found for sub in subs if (found := _find_images(root, root / sub, recursive=True))}
    if top and classes:
        raise ZooError(
            f"{root}: images both at the top level (e.g. {top[0][0]}) and in sub-folders (e.g. "
            f"{next(iter(classes.values()))[0][0]}); put every image in a class sub-folder, or all at the top level"
        )
    if not top and not classes:
        raise ZooError(f"{root}: no images ({' '.join(sorted(IMAGE_EXTENSIONS))}), at the top level or in sub-folders")
    if top:
        return _index(root, "flat", [(*entry, 0) for entry in top])
    return _index(root, "classes", [(*e, k) for k, found in enumerate(classes.values()) for e in found], tuple(classes))


def load_image_folder(
    path: str | Path | FolderIndex, size: int, *, cache_dir: str | Path | None = None, on_error: OnError = "stop",
    progress: bool = True, workers: int | None = None
) -> FolderImages:  # fmt: skip
    """Every readable image of the folder, preprocessed to ``size x size`` (module docstring), from the cache.

    The cache (default ``<data root>/.zoo-cache/folders``) holds one ``.npy`` (uint8, no pickle) per folder
    content, size and :data:`PREPROCESS_VERSION`. The content is each file's relative path, byte size and mtime:
    a changed, added or removed file gives a new key, for a stat per file and no read (about 3 s for CelebA's
    202,599 files), where a digest of the bytes would read all 1.4 GB on every load; a file rewritten with the
    same size and mtime goes unnoticed. Files: ``<folder>-<path digest>-<size>-<key>.npy`` and ``.json`` (the
    skipped files); older keys of the same folder and size are removed.

    Unreadable files: ``on_error="stop"`` raises :class:`ZooError` naming the first, after reading (and caching)
    the others, so a rerun with ``"skip"`` reads nothing; ``"skip"`` leaves them out and warns
    (:class:`SkippedImagesWarning`). ``workers`` threads decode (default: CPU count, at most 8); ``progress``
    shows a bar for 500 files or more.
    """
    if on_error not in ("stop", "skip"):
        raise ZooError(f"on_error must be 'stop' or 'skip', not {on_error!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ZooError(f"size must be a positive number of pixels, not {size!r}")
    index = path if isinstance(path, FolderIndex) else scan_image_folder(path)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    stem = f"{_slug(index.root)}-{_digest(str(index.root))[:8]}-{size}"
    npy = cache / f"{stem}-{_digest([PREPROCESS_VERSION, size, _entries(index, mtime=True)])[:24]}.npy"
    images, skipped = _read_cache(npy, len(index.files), size)
    if images is None:
        images, skipped = _preprocess(index, size, progress, workers or min(8, os.cpu_count() or 1))
        images = _write_cache(npy, images, skipped, stem)
    if skipped and on_error == "stop":
        raise ZooError(f"{index.root / skipped[0][0]}: unreadable image ({skipped[0][1]}; {len(skipped)} unreadable "
                       "in all); fix or remove the file, or leave unreadable files out with --on-error skip "
                       "(on_error='skip' in Python)")  # fmt: skip
    if skipped:
        named = ", ".join(f"{rel} ({why})" for rel, why in skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        warnings.warn(f"{index.root}: skipped {len(skipped)} unreadable of {len(index.files)} images: {named}",
                      SkippedImagesWarning, stacklevel=2)  # fmt: skip
    bad = {rel for rel, _ in skipped}
    rows = np.array([i for i, rel in enumerate(index.files) if rel not in bad], dtype=np.int64)
    return FolderImages(index, images, rows, tuple(skipped))


def assign_splits(index: FolderIndex, test_fraction: float = 0.1) -> tuple[str, ...]:
    """Each file's split, ``"train"`` or ``"test"`` (CelebA with its partition file: its official split).

    Rule, per class (the whole folder when unlabelled): files are ranked by the SHA-256 of their relative path,
    and the first ``test_fraction * n`` (rounded half up) go to test, at least 1 and at most ``n - 1`` when
    ``n >= 2``. So the split is the same on any machine, each class is represented in proportion, and adding or
    removing one file moves at most one other file across. Raises :class:`ZooError` unless
    ``0 < test_fraction < 1``.
    """
    if index.official_splits is not None:
        return index.official_splits
    if not 0 < test_fraction < 1:
        raise ZooError(f"test fraction must lie strictly between 0 and 1, not {test_fraction}")
    groups: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(index.labels):
        groups[label].append(i)
    splits = ["train"] * len(index.files)
    for members in groups.values():
        members.sort(key=lambda i: hashlib.sha256(index.files[i].encode()).digest())
        for i in members[: _test_count(len(members), test_fraction)]:
            splits[i] = "test"
    return tuple(splits)


def count_test_images(index: FolderIndex, test_fraction: float) -> int:
    """How many files :func:`assign_splits` puts in the test split at ``test_fraction`` (CelebA with its partition
    file: the official test split's), counted without hashing a file name."""
    if index.official_splits is not None:
        return index.official_splits.count("test")
    return sum(_test_count(n, test_fraction) for n in Counter(index.labels).values())


def _test_count(members: int, test_fraction: float) -> int:
    """:func:`assign_splits`' rule for one class of ``members`` files: ``test_fraction * members`` rounded half up,
    at least 1 and at most ``members - 1`` (0 for a class of one file)."""
    return min(max(int(test_fraction * members + 0.5), 1), members - 1)


@dataclass(frozen=True)
class FolderDataset(DatasetSpec):
    """A :class:`DatasetSpec` made from an image folder by :func:`folder_dataset_spec`, which records how:
    ``folder`` (absolute), ``size`` in pixels and ``test_fraction``; ``split_sizes``: the readable images of each
    split, known without loading one."""

    folder: Path = Path()
    size: int = 0
    test_fraction: float = 0.1
    split_sizes: dict[str, int] = field(default_factory=dict)


def folder_dataset_spec(
    path: str | Path, size: int, *, test_fraction: float = 0.1, data_root: str | Path | None = None,
    cache_dir: str | Path | None = None, on_error: OnError = "stop", progress: bool = True
) -> FolderDataset:  # fmt: skip
    """A :class:`FolderDataset` for the folder at ``path``, ``size x size`` pixels, split by :func:`assign_splits`.

    Preprocesses (or reads the cache) now, since the channel count depends on the images. The cache defaults to
    ``<data root>/.zoo-cache/folders`` (``data_root`` resolved by :func:`resolve_data_root`). ``load(root, split,
    download)`` ignores ``root`` and ``download`` and returns uint8 ``[n, C, size, size]`` and int64 ``[n]``; an
    empty split raises :class:`ZooError`. The name, ``folder-<folder name>-<size>-<8 hex>``, carries a digest of
    the file names and sizes, the size and the split (:func:`folder_dataset_name`), so results on different data
    never share a name.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir(data_root)
    data = load_image_folder(path, size, cache_dir=cache, on_error=on_error, progress=progress)
    index, names = data.index, ("train", "valid", "test") if data.index.official_splits else ("train", "test")
    splits = assign_splits(index, test_fraction)
    per_image = np.array(splits)[data.rows]
    labels = np.array(index.labels, dtype=np.int64)[data.rows]

    def load(root: Path | None = None, split: str = "train", download: bool = False) -> tuple[torch.Tensor, ...]:
        chosen = np.flatnonzero(per_image == split)
        if not len(chosen):
            raise ZooError(f"{index.root}: the {split!r} split has no images ({len(data.rows)} readable images, "
                           f"test fraction {test_fraction}; splits: {', '.join(names)})")  # fmt: skip
        return torch.from_numpy(np.ascontiguousarray(data.images[chosen])), torch.from_numpy(labels[chosen])

    sizes = {s: int((per_image == s).sum()) for s in names}
    counts = ", ".join(f"{n} {s}" for s, n in sizes.items())
    classes = f"{index.num_classes} classes" if index.classes else "unlabelled"
    return FolderDataset(
        name=folder_dataset_name(index, size, test_fraction),
        image_shape=tuple(int(d) for d in data.images.shape[1:]),  # type: ignore[arg-type]
        num_classes=index.num_classes,
        load=load,
        splits=names,
        description=f"images in {index.root} ({index.layout}, {classes}, {counts}), {size}x{size}",
        folder=index.root,
        size=size,
        test_fraction=test_fraction,
        split_sizes=sizes,
    )


def folder_dataset_name(index: FolderIndex, size: int, test_fraction: float) -> str:
    """The name of the folder's dataset at ``size`` pixels and ``test_fraction``: ``folder-<folder name>-<size>-<8
    hex>``, the digest over the file names and byte sizes, the labels, the size and each file's split."""
    splits = assign_splits(index, test_fraction)
    return (
        f"folder-{_slug(index.root)}-{size}-{_digest([_entries(index, mtime=False), index.labels, size, splits])[:8]}"
    )


def default_cache_dir(data_root: str | Path | None = None) -> Path:
    """``<data root>/.zoo-cache/folders``: where preprocessed folders are kept."""
    return resolve_data_root(data_root) / ".zoo-cache" / "folders"


def read_image(path: Path, size: int) -> np.ndarray:
    """One image file preprocessed (module docstring): uint8 ``[size, size]`` if grey, else ``[size, size, 3]``."""
    with PIL.Image.open(path) as image:
        image = PIL.ImageOps.exif_transpose(image)
        if image.mode in ("I", "I;16", "I;16B", "I;16L"):
            image = PIL.Image.fromarray(
                (np.asarray(image, dtype=np.float64) / 257).round().clip(0, 255).astype(np.uint8)
            )
        grey = PIL.ImageMode.getmode(image.mode).basemode == "L"
        image = image.convert("L" if grey else "RGB")
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        box = (left, top, left + side, top + side)
        return np.asarray(image.resize((size, size), PIL.Image.Resampling.BICUBIC, box=box))


def _scan_celeba(base: Path) -> FolderIndex:
    """torchvision's CelebA below ``base``: ``img_align_celeba/*``, and the official split if the file is there."""
    found = _find_images(base, base / CELEBA_IMAGES, recursive=False)  # sorted
    if not found:
        raise ZooError(f"{base / CELEBA_IMAGES}: no images")
    partition, listed = base / CELEBA_PARTITION, None
    if partition.is_file():
        listed = {}
        for number, line in enumerate(partition.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            fields = line.split()
            if len(fields) != 2 or fields[1] not in _CELEBA_SPLITS:
                raise ZooError(f"{partition}, line {number}: expected '<image name> 0|1|2', got {line!r}")
            listed[fields[0]] = _CELEBA_SPLITS[fields[1]]
        missing = [rel for rel, *_ in found if rel.removeprefix(f"{CELEBA_IMAGES}/") not in listed]
        if missing:
            raise ZooError(f"{base / missing[0]}: not listed in {partition} (nor are {len(missing) - 1} others)")
    return _index(base, "celeba", [(*entry, 0) for entry in found], official=listed)


def _find_images(root: Path, folder: Path, recursive: bool) -> list[tuple[str, int, int]]:
    """Sorted ``(path relative to root, bytes, mtime_ns)`` of the images in ``folder`` (and below if ``recursive``)."""
    prefix = "" if folder == root else folder.relative_to(root).as_posix() + "/"
    try:
        entries = list(os.scandir(folder))
    except OSError as error:
        raise ZooError(f"{folder}: cannot list this folder ({error.strerror or error})") from error
    found = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            found += _find_images(root, folder / entry.name, recursive) if recursive else []
        elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
            stat = entry.stat()
            found.append((prefix + entry.name, stat.st_size, stat.st_mtime_ns))
    return sorted(found)


def _index(root: Path, layout: str, entries: list, classes: tuple = (), official: dict | None = None) -> FolderIndex:
    """A :class:`FolderIndex` of ``(relative path, bytes, mtime_ns, label)`` entries; ``official``: name -> split."""
    entries = sorted(entries)
    files = tuple(rel for rel, *_ in entries)
    return FolderIndex(
        root, layout, files, tuple((e[1], e[2]) for e in entries), tuple(e[3] for e in entries), classes,
        None if official is None else tuple(official[rel.removeprefix(f"{CELEBA_IMAGES}/")] for rel in files),
    )  # fmt: skip


def _preprocess(index: FolderIndex, size: int, progress: bool, workers: int) -> tuple[np.ndarray, list]:
    """Read every file; returns uint8 ``[M, C, size, size]`` of the readable ones and ``(path, reason)`` of the rest."""

    def read(rel: str) -> np.ndarray | str:
        try:
            return read_image(index.root / rel, size)
        except Exception as error:  # noqa: BLE001 - whatever PIL raises for a damaged or foreign file
            return f"{type(error).__name__}: {error}"

    images, kept, skipped = np.empty((len(index.files), 1, size, size), dtype=np.uint8), 0, []
    bar = tqdm(total=len(index.files), desc=f"preprocessing {index.root.name} to {size}px", unit="img",
               disable=not progress or len(index.files) < _PROGRESS_MIN_FILES, dynamic_ncols=True)  # fmt: skip
    pool = ThreadPoolExecutor(workers)
    try:  # in chunks, and cancelling what is queued on an error or Ctrl-C, so neither waits for the whole folder
        for start in range(0, len(index.files), _CHUNK):
            chunk = index.files[start : start + _CHUNK]
            for rel, result in zip(chunk, pool.map(read, chunk), strict=True):
                bar.update()
                if isinstance(result, str):
                    skipped.append((rel, result))
                    continue
                if result.ndim == 3 and images.shape[1] == 1:  # the first colour image: all become RGB
                    images = images.repeat(3, axis=1)
                images[kept], kept = (result if result.ndim == 2 else result.transpose(2, 0, 1)), kept + 1
    finally:
        pool.shutdown(cancel_futures=True)
        bar.close()
    if not kept:
        raise ZooError(f"{index.root}: none of the {len(index.files)} images is readable ({skipped[0][0]}: "
                       f"{skipped[0][1]})")  # fmt: skip
    return images[:kept], skipped


def _read_cache(npy: Path, files: int, size: int) -> tuple[np.ndarray | None, list]:
    """The cached images (memory-mapped) and skipped files, or ``(None, [])`` if absent or inconsistent."""
    try:
        skipped = [tuple(s) for s in json.loads(npy.with_suffix(".json").read_text(encoding="utf-8"))["skipped"]]
        images = np.load(npy, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, KeyError, TypeError):
        return None, []
    ok = images.dtype == np.uint8 and images.shape[:1] + images.shape[2:] == (files - len(skipped), size, size)
    return (images, skipped) if ok and images.shape[1] in (1, 3) else (None, [])


def _write_cache(npy: Path, images: np.ndarray, skipped: list, stem: str) -> np.ndarray:
    """Store ``images`` at ``npy`` (then its ``.json``), remove older caches of the same folder and size, and
    return the memory-mapped copy; on a write error, warn and return ``images`` uncached."""
    try:
        with atomic_path(npy) as tmp, open(tmp, "wb") as handle:
            np.save(handle, images, allow_pickle=False)
        write_json(npy.with_suffix(".json"), {"skipped": skipped, "shape": list(images.shape)})
        for old in npy.parent.glob(f"{stem}-*"):
            if old.stem != npy.stem:
                old.unlink(missing_ok=True)
        return np.load(npy, mmap_mode="r", allow_pickle=False)
    except OSError as error:
        warnings.warn(f"could not cache the preprocessed images in {npy.parent} ({error})", FolderCacheWarning,
                      stacklevel=3)  # fmt: skip
        return images


def _entries(index: FolderIndex, mtime: bool) -> list:
    return [[rel, nbytes, *([ns] if mtime else [])] for rel, (nbytes, ns) in zip(index.files, index.stats, strict=True)]


def _digest(data: object) -> str:
    return hashlib.sha256(json.dumps(data, separators=(",", ":")).encode()).hexdigest()


def _slug(root: Path) -> str:
    return re.sub(r"[^a-z0-9_]+", "-", root.name.lower()).strip("-") or "images"
