"""Claims: which bench is running which cell, so that several benches on one results folder share the work.

A driver claims a cell before it hands it to a worker and keeps the claim until the cell is recorded. A claim is an
exclusive ``flock`` on ``.claims/<dataset>/<cell>.lock``, taken with the ``filelock`` library: the kernel drops it
when its owner's process ends, however it ends (kill -9 included), so a dead bench never holds a cell; on a shared
filesystem without ``flock`` filelock falls back to a marker file that records the owner's pid and host and is
reclaimed once that owner is provably gone. Beside each lock, ``<cell>.owner`` says who holds it (pid, host,
worker pid), for the messages of the bench that has to wait.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import filelock

from zoo.fileio import read_json, write_json
from zoo.results import Cell


class Claim:
    """A held claim on one cell; :meth:`release` gives it back (a dead process gives it back by dying)."""

    def __init__(self, lock: filelock.BaseFileLock, owner_path: Path):
        self._lock, self.owner_path = lock, owner_path

    def note_worker(self, pid: int | None) -> None:
        """Record the process (or Ray task) that runs the cell, beside the claim."""
        write_json(self.owner_path, {**read_json(self.owner_path), "worker_pid": pid})

    def release(self) -> None:
        self.owner_path.unlink(missing_ok=True)
        self._lock.release()


class Claims:
    """The claims of one results folder."""

    def __init__(self, results_dir: Path):
        self.root = Path(results_dir) / ".claims"

    def try_claim(self, cell: Cell) -> Claim | None:
        """Claim ``cell`` for this process; None when another live bench holds it."""
        path = self.root / cell.dataset / f"{cell.name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(path, blocking=False)
        try:
            lock.acquire()
        except filelock.Timeout:
            return None
        owner = path.with_suffix(".owner")
        write_json(owner, {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
        return Claim(lock, owner)

    def holder(self, cell: Cell) -> str:
        """Who holds ``cell``'s claim, in words (``pid 123 on host``), as far as its owner file says."""
        try:
            owner = read_json(self.root / cell.dataset / f"{cell.name}.owner")
            return f"pid {owner['pid']} on {owner['host']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "another bench"
