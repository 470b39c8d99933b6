"""Running a bench's cells as Ray tasks, on a Ray cluster (``zoo bench --executor ray [--address ...]``).

Ray is an optional extra (``pip install "genzoo[ray]"``). Each cell is one task running
:func:`zoo.bench.worker.run_job` with its needs declared: ``num_cpus`` = its torch threads, and on a cluster with
GPUs ``num_gpus = 1 / cells_per_device`` (fractional, so several small cells share a device; Ray sets each task's
``CUDA_VISIBLE_DEVICES``). The driver keeps at most as many tasks in flight as the cluster can run at once, so a
cell's time limit counts from its start; a cell past it is cancelled (its worker killed) and reported timed out.

A task whose worker process or node dies is retried by Ray up to :data:`RETRIES` times (a plugin's own exception
is not retried: :func:`run_job` returns it as the cell's failure). The driver gets one outcome per cell and writes
it once, so a retried cell is never recorded twice. Workers return rows and grids to the driver, so they need no
shared filesystem for results; what every node needs is in the README ("A Ray cluster").
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from zoo.bench.jobs import Job, Outcome
from zoo.bench.worker import run_job
from zoo.errors import ZooError

RETRIES = 2
"""How many times Ray re-runs a cell whose worker died (so up to three attempts)."""
WORKER_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}
"""Environment of the bench's Ray workers when this driver connects (see zoo.bench.executors for why)."""


@dataclass
class _Task:
    job: Job
    ref: Any
    started: float


class RayExecutor:
    """Runs jobs as Ray tasks on the cluster at ``address`` (``auto``, ``ray://host:port``, or None: the one
    ``RAY_ADDRESS`` names or a new local one); reuses the connection if this process has one already.

    ``device``: ``auto`` uses GPUs when the cluster has some, ``cuda`` requires them, ``cpu`` never uses them.
    ``workers``: cells at once (default: as many as the cluster's CPUs, or GPUs x ``cells_per_device``, allow);
    ``threads``: CPUs (torch threads) per cell.
    """

    def __init__(
        self,
        *,
        address: str | None,
        device: str,
        workers: int | None,
        threads: int,
        cells_per_device: int,
        cell_timeout: float | None,
    ):
        try:
            import ray
        except ImportError:
            raise ZooError('the ray executor needs Ray: pip install "genzoo[ray]"') from None
        self._ray = ray
        if not ray.is_initialized():
            try:
                ray.init(address=address, runtime_env={"env_vars": WORKER_ENV}, log_to_driver=True)
            except ConnectionError as error:
                raise ZooError(f"cannot connect to a Ray cluster at {address}: {error}") from None
        resources = ray.cluster_resources()
        self.gpus, self.cpus = resources.get("GPU", 0.0), resources.get("CPU", 0.0)
        if device == "cuda" and not self.gpus:
            raise ZooError("--device cuda was asked for, but the Ray cluster has no GPUs")
        use_gpu = device != "cpu" and self.gpus > 0
        self.device_type, self.threads, self.cell_timeout = ("cuda" if use_gpu else "cpu"), threads, cell_timeout
        self._gpu_share = 1 / cells_per_device if use_gpu else 0
        fits = int(self.gpus * cells_per_device) if use_gpu else int(self.cpus // threads)
        self.capacity = workers or max(1, fits)
        self._remote = ray.remote(run_job)
        self._tasks: list[_Task] = []

    def describe(self) -> str:
        return (
            f"Ray cluster ({self.cpus:g} CPUs, {self.gpus:g} GPUs): {self.capacity} cells at once, "
            f"{self.threads} CPU(s) and {self._gpu_share:g} GPU each"
        )

    def running(self) -> int:
        return len(self._tasks)

    def start(self, job: Job) -> int | None:
        """Submit ``job`` as a task; Ray knows its worker's pid, the driver does not (returns None)."""
        job = dataclasses.replace(job, device=self.device_type)
        ref = self._remote.options(
            num_cpus=job.threads,
            num_gpus=self._gpu_share,
            max_retries=RETRIES,
            retry_exceptions=False,
            name=f"zoo {job.cell}",
        ).remote(job)
        self._tasks.append(_Task(job, ref, time.monotonic()))
        return None

    def wait(self, timeout: float) -> list[tuple[Job, Outcome]]:
        """Up to ``timeout`` seconds for tasks to end; returns each ended job with its outcome."""
        if not self._tasks:
            return []
        if self.cell_timeout is not None:
            first_limit = min(t.started + self.cell_timeout for t in self._tasks) - time.monotonic()
            timeout = max(0.0, min(timeout, first_limit))
        refs = [t.ref for t in self._tasks]
        self._ray.wait(refs, num_returns=1, timeout=timeout)
        ready = set(self._ray.wait(refs, num_returns=len(refs), timeout=0)[0])  # all that have ended by now
        ended = []
        for task in list(self._tasks):
            seconds = time.monotonic() - task.started
            if task.ref in ready:
                outcome = self._outcome(task.ref, seconds)
            elif self.cell_timeout is not None and seconds >= self.cell_timeout:
                self._ray.cancel(task.ref, force=True)
                outcome = Outcome.failed(
                    "timed out", f"ended at the cell time limit of {self.cell_timeout:g} s", seconds
                )
            else:
                continue
            self._tasks.remove(task)
            ended.append((task.job, outcome))
        return ended

    def stop(self) -> None:
        """Cancel every running task (their cells stay unfinished)."""
        for task in self._tasks:
            self._ray.cancel(task.ref, force=True)
        self._tasks.clear()

    def _outcome(self, ref: Any, seconds: float) -> Outcome:
        try:
            return self._ray.get(ref)
        except self._ray.exceptions.RayError as error:  # the worker or its node died, more than RETRIES times
            cause = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            return Outcome.failed("died", f"{type(error).__name__} after {RETRIES} retries: {cause}", seconds)
