"""Executors: where a bench's cells run. The default runs each cell in a fresh local process; Ray runs them as
tasks on a cluster (:mod:`zoo.bench.ray_executor`). Both take :class:`~zoo.bench.jobs.Job` s from the driver and
give back :class:`~zoo.bench.jobs.Outcome` s; neither writes to the results folder.

The local executor is the standard library's ``multiprocessing`` with one process per cell and a private pipe per
process, rather than a pool library (pebble's ``ProcessPool`` has per-task timeouts and reports a dead worker's
exit code, and was the alternative considered), because what a bench needs is exactly what one process per cell
gives directly:

* a clean process per cell, so a plugin's leak, hung thread or broken CUDA context dies with its cell. Workers
  are forked from a ``forkserver``: a server process started once, which has imported zoo and torch and done
  nothing else (no cell, no CUDA, no threads), so each worker starts in a fraction of a second instead of the
  seconds a ``spawn`` ed interpreter spends importing torch (``spawn`` is used where there is no forkserver);
* a pipe of its own per worker: a worker killed at any moment cannot corrupt a channel other workers share (a
  pool's workers share one result queue under a lock);
* the exit cause of a worker that dies (its signal or status), and SIGKILL for one past its time limit; Linux's
  ``PR_SET_PDEATHSIG`` (set in the worker) ends it when its parent, the driver's fork server, ends with the driver.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

import torch

from zoo.bench.jobs import Job, Origin, Outcome
from zoo.bench.worker import process_main
from zoo.errors import ZooError
from zoo.options import CPU_THREADS_PER_WORKER

_SIGNAL_HINTS = {
    signal.SIGKILL: "killed, e.g. by the out-of-memory killer",
    signal.SIGSEGV: "a segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGBUS: "a bus error",
}


def exit_cause(exitcode: int | None) -> str:
    """Why a worker process that sent no outcome ended, in words, from its exit code."""
    if exitcode is not None and exitcode < 0:
        sig = signal.Signals(-exitcode)
        hint = f" ({_SIGNAL_HINTS[sig]})" if sig in _SIGNAL_HINTS else ""
        return f"the worker process was ended by {sig.name}{hint} before the cell finished"
    return f"the worker process exited with status {exitcode} before the cell finished (os._exit, or a crash)"


@dataclass
class _Worker:
    job: Job
    process: BaseProcess
    results: Connection
    started: float

    def seconds(self) -> float:
        return time.monotonic() - self.started


class LocalExecutor:
    """Runs jobs in fresh local processes, one per job, at most ``len(devices)`` at once.

    ``devices``: one entry per concurrent worker, the device its jobs use (``cpu``, or ``cuda:i`` repeated
    ``--cells-per-device`` times per GPU). ``cell_timeout``: seconds a job may run (from its process's start)
    before it is killed and reported ``timed out``; None for no limit.
    """

    def __init__(self, devices: list[str], cell_timeout: float | None = None):
        if not devices:
            raise ValueError("an executor needs at least one worker")
        self.devices, self.cell_timeout = devices, cell_timeout
        self._context = _process_context()
        self._slots: dict[int, _Worker] = {}

    @property
    def capacity(self) -> int:
        return len(self.devices)

    @property
    def device_type(self) -> str:
        return self.devices[0].split(":")[0]

    @property
    def threads(self) -> int:
        """Torch threads per worker: the cores shared out."""
        return threads_per_worker(self.capacity)

    def describe(self) -> str:
        return f"local processes: {self.capacity} x {self.threads} thread(s) on {', '.join(sorted(set(self.devices)))}"

    def running(self) -> int:
        return len(self._slots)

    def start(self, job: Job) -> int | None:
        """Start ``job`` in a new process on a free slot's device; returns the process id."""
        slot = next(i for i in range(self.capacity) if i not in self._slots)
        environ = {**os.environ, **worker_environment(job.threads)}
        origin = Origin(tuple(sys.path), environ, os.getcwd())
        job = dataclasses.replace(job, device=self.devices[slot], origin=origin)
        results, send = self._context.Pipe(duplex=False)
        process = self._context.Process(target=process_main, args=(send, job), name=f"zoo {job.cell}")
        with _environment(environ):  # what the process starts with (the fork server, when this start launches it)
            process.start()
        send.close()  # the worker holds the only write end: its death is an EOF here
        self._slots[slot] = _Worker(job, process, results, time.monotonic())
        return process.pid

    def wait(self, timeout: float) -> list[tuple[Job, Outcome]]:
        """Block up to ``timeout`` seconds (less when a cell's time limit comes first) for jobs to end; returns the
        jobs that ended, each with its outcome: what the worker sent, or ``died`` / ``timed out``."""
        if not self._slots:
            return []
        if self.cell_timeout is not None:
            remaining = min(self.cell_timeout - w.seconds() for w in self._slots.values())
            timeout = max(0.0, min(timeout, remaining))
        handles = [h for w in self._slots.values() for h in (w.results, w.process.sentinel)]
        ready = set(wait(handles, timeout))
        ended = []
        for slot, worker in list(self._slots.items()):
            outcome = None
            if worker.results in ready or worker.process.sentinel in ready:
                outcome = self._collect(worker)
            elif self.cell_timeout is not None and worker.seconds() >= self.cell_timeout:
                self._end(worker)
                outcome = Outcome.failed(
                    "timed out", f"ended at the cell time limit of {self.cell_timeout:g} s", worker.seconds()
                )
            if outcome is not None:
                worker.results.close()
                del self._slots[slot]
                ended.append((worker.job, outcome))
        return ended

    def stop(self) -> None:
        """End every running job now (its outcome is lost: the cell stays unfinished)."""
        for worker in self._slots.values():
            self._end(worker)
            worker.results.close()
        self._slots.clear()

    def _collect(self, worker: _Worker) -> Outcome:
        """The outcome ``worker`` sent, or (it sent none) why it ended."""
        outcome = None
        if worker.results.poll():
            try:
                outcome = worker.results.recv()
            except EOFError:
                pass
            except Exception as error:  # noqa: BLE001 - a result that cannot be unpickled here
                outcome = Outcome.failed("error", f"its outcome could not be read: {type(error).__name__}: {error}")
        wait([worker.process.sentinel], 60 if outcome else 5)  # it exits right after sending / as its pipe closes
        self._end(worker)
        return outcome or Outcome.failed("died", exit_cause(worker.process.exitcode), worker.seconds())

    @staticmethod
    def _end(worker: _Worker) -> None:
        """Kill the worker's process group (the worker and any process its plugin started) if the worker is still
        running, then reap it. (Only a running worker: the pid of one that has ended may have been reaped.)"""
        if not wait([worker.process.sentinel], 0):
            try:
                os.killpg(worker.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):  # killed before it made its own group
                worker.process.kill()
        worker.process.join()


def _process_context() -> multiprocessing.context.BaseContext:
    """Forkserver (preloading the worker module) where the platform has one, else spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["zoo.bench.worker"])
    return context


def worker_environment(threads: int) -> dict[str, str]:
    """The variables a worker with ``threads`` torch threads starts with: as many OpenMP/MKL threads (the worker also
    calls ``torch.set_num_threads``), and OpenMP threads that sleep when idle (``OMP_WAIT_POLICY=PASSIVE`` unless set:
    busy-waiting threads of concurrent workers starve each other; a VAE step was seen to slow from 0.1 s to 6.5 s
    under CPU load). OpenMP reads them when torch loads it."""
    return {
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
    }


@contextlib.contextmanager
def _environment(environ: dict[str, str]) -> Iterator[None]:
    """``os.environ`` set to ``environ`` for the block, then put back."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def cpu_count() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int) -> int:
    """Torch threads for each of ``workers`` concurrent workers: the cores shared out, at least one."""
    return max(1, math.floor(cpu_count() / workers))


def local_executor(
    device: torch.device, *, workers: int | None, cells_per_device: int, cell_timeout: float | None
) -> LocalExecutor:
    """The local executor for ``device``: on CUDA, ``workers`` (default: ``cells_per_device`` per GPU) spread over
    the GPUs (or the one ``device`` names); on a CPU, ``workers`` (default: one per :data:`CPU_THREADS_PER_WORKER`
    cores), each with the cores shared out in threads."""
    if device.type == "cuda":
        gpus = [device.index] if device.index is not None else list(range(torch.cuda.device_count()))
        count = workers or len(gpus) * cells_per_device
        devices = [f"cuda:{gpus[i % len(gpus)]}" for i in range(count)]
    else:
        if cells_per_device != 1:
            raise ZooError("--cells-per-device is for GPUs; on a CPU, --workers sets how many cells run at once")
        count = workers or max(1, cpu_count() // CPU_THREADS_PER_WORKER)
        devices = ["cpu"] * count
    return LocalExecutor(devices, cell_timeout)
