"""Where zoo keeps datasets on disk."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ROOT_ENV = "ZOO_DATA_ROOT"


def resolve_data_root(explicit: str | Path | None = None) -> Path:
    """The data root: ``explicit`` if given, else ``$ZOO_DATA_ROOT``, else the user cache.

    The cache is ``$XDG_CACHE_HOME/zoo/datasets`` when ``XDG_CACHE_HOME`` is an absolute path, else
    ``~/.cache/zoo/datasets``. Empty environment variables count as unset. Dataset plugins lay their files out
    below the root the way torchvision does (e.g. ``<root>/MNIST/raw/``). The folder is not created here.
    """
    if explicit is not None:
        return Path(explicit).expanduser()
    if os.environ.get(DATA_ROOT_ENV):
        return Path(os.environ[DATA_ROOT_ENV]).expanduser()
    return user_cache_dir() / "datasets"


def user_cache_dir() -> Path:
    """zoo's folder in the user's cache: ``$XDG_CACHE_HOME/zoo`` when that is an absolute path, else
    ``~/.cache/zoo``. Not created here."""
    xdg_cache = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg_cache) if os.path.isabs(xdg_cache) else Path.home() / ".cache") / "zoo"
