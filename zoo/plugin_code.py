"""What identifies a plugin's code in zoo's results: its distribution, version and a digest of its files.

A version string is not enough: an editable install changes without one, and a cell or protocol made by code that
no longer exists must not pass for a result of the new code. :func:`code_sha256` hashes a distribution's Python
source files, found one of two ways:

* an installed distribution: the ``.py`` files its ``RECORD`` lists (:attr:`importlib.metadata.Distribution.files`),
  except those of its ``.dist-info`` folder and those outside its installation folder;
* an editable install (``direct_url.json`` with ``dir_info.editable``), or a distribution without a ``RECORD`` or
  whose ``RECORD`` lists no Python file (an egg-info, a ``.pth`` pointing at a source folder): the ``.py`` files of
  the packages (or the single modules) its ``zoo`` entry points import, from wherever Python imports them,
  ``__pycache__`` left out.

Each file is hashed from its bytes on disk and named by its path from the import root (``zoo_lsgan/model.py``), so
the same code gives the same digest installed or editable. zoo's own distribution (``genzoo``) is hashed by the
same rule: its entry points import the package of the built-in models and datasets.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from zoo.hashing import sha256_file, sha256_json

ENTRY_POINT_GROUP = "zoo"
SHORT = 12
"""Hex digits of a code digest that rows show (:attr:`PluginCode.short`)."""


@dataclass(frozen=True)
class PluginCode:
    """A plugin distribution as a result records it: ``distribution`` and ``version`` as installed, and
    ``code_sha256``, :func:`code_sha256` of its files (64 hex digits; empty when the distribution is unknown)."""

    distribution: str
    version: str
    code_sha256: str

    @property
    def short(self) -> str:
        """The first :data:`SHORT` hex digits of the code digest, as rows show it."""
        return self.code_sha256[:SHORT]

    def record(self) -> dict[str, str]:
        """JSON-ready, as a cell key and a protocol record store it."""
        return asdict(self)


def code_sha256(distribution: str) -> str:
    """Hex SHA-256 of ``distribution``'s Python source files (see the module docstring), as canonical JSON of
    path -> SHA-256 of the file's bytes; empty for a distribution that is not installed. Reads the files each call:
    callers cache it (:meth:`zoo.plugins.Registry.code`)."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return ""
    recorded = dist.read_text("RECORD") is not None and not _editable(dist)
    files = (_recorded_sources(dist) if recorded else {}) or _entry_point_sources(dist)
    digests = {name: _file_sha256(path) for name, path in sorted(files.items())}
    return sha256_json(digests)


def _editable(dist: metadata.Distribution) -> bool:
    text = dist.read_text("direct_url.json")
    if not text:
        return False
    try:
        return bool(json.loads(text).get("dir_info", {}).get("editable"))
    except (ValueError, AttributeError):
        return False


def _recorded_sources(dist: metadata.Distribution) -> dict[str, Path]:
    """The ``.py`` files ``RECORD`` lists, by their path from the installation folder."""
    found = {}
    for file in dist.files or []:
        parts = file.parts
        if file.suffix != ".py" or ".." in parts or "__pycache__" in parts or parts[0].endswith(".dist-info"):
            continue
        found[file.as_posix()] = Path(dist.locate_file(file))
    return found


def _entry_point_sources(dist: metadata.Distribution) -> dict[str, Path]:
    """The ``.py`` files of the top-level packages or modules ``dist``'s ``zoo`` entry points import, by their path
    from the folder they are imported from."""
    found: dict[str, Path] = {}
    tops = sorted({ep.module.split(".")[0] for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP})
    for top in tops:
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        if spec.submodule_search_locations:
            for folder in map(Path, spec.submodule_search_locations):
                for path in folder.rglob("*.py"):
                    if "__pycache__" not in path.relative_to(folder).parts:
                        found[(Path(top) / path.relative_to(folder)).as_posix()] = path
        elif spec.origin and spec.origin.endswith(".py"):
            found[Path(spec.origin).name] = Path(spec.origin)
    return found


def _file_sha256(path: Path) -> str:
    try:
        return sha256_file(path)
    except OSError:
        return "missing"
