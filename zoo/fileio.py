"""Atomic file writes: a reader (or a crash, or Ctrl-C) never leaves half a file behind."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.errors import ZooError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (:func:`writer_tag`: ``.<name>.<host>-<pid>.tmp``); on success it
    replaces ``path`` in one rename.

    On an exception the temporary file is removed and ``path`` keeps its old content. A process killed mid-write
    leaves the temporary file (never ``path`` half-written); :func:`stale_partial` recognises it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{writer_tag()}.tmp")
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def writer_tag(pid: int | None = None) -> str:
    """``<host>-<pid>``: which process on which machine writes a temporary file (dots of the host name as ``_``)."""
    return f"{socket.gethostname().replace('.', '_')}-{os.getpid() if pid is None else pid}"


def stale_partial(path: Path) -> bool:
    """Whether ``path`` is the temporary file of an :func:`atomic_path` write whose process, on this machine, is
    gone: what a killed writer leaves behind. A live writer's file, or another machine's, is not stale."""
    host, _, pid = path.name.removesuffix(".tmp").rpartition(".")[2].rpartition("-")
    if not (path.name.startswith(".") and path.name.endswith(".tmp") and pid.isdigit()):
        return False
    if f"{host}-{pid}" != writer_tag(int(pid)):
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's live process
        return False
    return False


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def writable_dir(path: str | Path, way_out: str) -> Path:
    """``path`` as a folder files can be created in (made if missing, parents too), checked before any work is
    done; else a :class:`ZooError` naming the folder, the reason and ``way_out`` (e.g. ``"choose another --out"``)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise ZooError(f"cannot write to folder {path} ({error.strerror or error}); {way_out}") from None
    return path
