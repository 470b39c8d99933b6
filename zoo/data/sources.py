"""Datasets as a command names them: a registered name (``mnist``), or ``folder:PATH``, an image folder.

An image folder needs no plugin and no code: :func:`with_datasets` builds its :class:`~zoo.data.folder.FolderDataset`
on demand (its channels come from the images, so it is made, or read from the cache, when named) and adds it to
the registry of that one command under its content-derived name, ``folder-<folder name>-<size>-<digest>``.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from zoo.data.folder import FolderDataset, OnError, folder_dataset_spec
from zoo.interfaces import DatasetSpec
from zoo.options import DEFAULT_SIZE, DEFAULT_TEST_FRACTION
from zoo.plugins import PluginInfo, Registry

FOLDER_PREFIX = "folder:"


@dataclass(frozen=True)
class FolderOptions:
    """How ``folder:`` datasets are read: ``size`` pixels a side (centre crop and resize), the share of each class
    held out as the test split, and what to do with unreadable files (``"stop"`` or ``"skip"``)."""

    size: int = DEFAULT_SIZE
    test_fraction: float = DEFAULT_TEST_FRACTION
    on_error: OnError = "stop"


def is_folder(name: str) -> bool:
    """Whether a dataset name is an image folder, ``folder:PATH``."""
    return name.startswith(FOLDER_PREFIX)


def folder_path(name: str, base: Path | None = None) -> Path:
    """The folder ``folder:PATH`` names, ``~`` expanded, a relative path taken from ``base`` (default: here)."""
    path = Path(name.removeprefix(FOLDER_PREFIX)).expanduser()
    return path if base is None or path.is_absolute() else base / path


def with_datasets(
    registry: Registry,
    names: Iterable[str],
    options: FolderOptions = FolderOptions(),
    *,
    data_root: str | Path | None = None,
    progress: bool = True,
) -> tuple[Registry, list[str]]:
    """``registry`` plus a dataset for every ``folder:PATH`` among ``names``, and ``names`` as that registry knows
    them (a folder by its ``folder-...`` name; registered names pass unchanged and unchecked).

    Preprocessed images are cached under the data root (:func:`zoo.data.folder.default_cache_dir`). Raises
    :class:`zoo.errors.ZooError` for a folder without readable images, and for unreadable files when
    ``options.on_error`` is ``"stop"``.
    """
    resolved = []
    for name in names:
        if is_folder(name):
            spec = folder_dataset_spec(
                folder_path(name),
                options.size,
                test_fraction=options.test_fraction,
                data_root=data_root,
                on_error=options.on_error,
                progress=progress,
            )
            plugin = PluginInfo("folder", "genzoo", metadata.version("genzoo"), ["image folder"])
            registry = dataclasses.replace(registry, datasets=registry.datasets.including(spec, plugin))
            name = spec.name
        resolved.append(name)
    return registry, resolved


def dataset_option(spec: DatasetSpec) -> str:
    """The command-line options that name ``spec`` again: ``--dataset NAME``, or for an image folder
    ``--dataset folder:PATH --size N`` (and ``--test-fraction F`` unless it is the default)."""
    if not isinstance(spec, FolderDataset):
        return f"--dataset {shlex.quote(spec.name)}"
    fraction = "" if spec.test_fraction == FolderOptions.test_fraction else f" --test-fraction {spec.test_fraction}"
    return f"--dataset {shlex.quote(FOLDER_PREFIX + str(spec.folder))} --size {spec.size}{fraction}"
