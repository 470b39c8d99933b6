"""Running one bench cell, in a worker process: a :class:`zoo.runs.Run` into the cell's run folder, as rows.

:func:`run_job` is what every executor calls in its worker (a local process or a Ray task). It loads the plugins
itself, checks that it has the model's and the dataset's plugins (version and code digest) and the extractors the
driver planned with, runs the cell through zoo's one run pipeline (train, score under every protocol of the
profile at its steps, write the run folder in the work folder), and returns an :class:`~zoo.bench.jobs.Outcome`:
rows and the grid as PNG bytes, never files in the results folder (the driver writes those). Everything a
plugin's code does (build, train, sample, evaluate; an exception, ``SystemExit`` or ``KeyboardInterrupt`` included)
becomes this cell's failure, with the phase it happened in; what it does that Python cannot catch (``os._exit``,
a segfault, being killed) ends the process, and the executor records that.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import importlib
import json
import os
import signal
import socket
import sys
import threading
import time
import warnings
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from zoo import scoring
from zoo.bench.jobs import Job, Outcome
from zoo.data import load_split, random_subset
from zoo.data.sources import with_datasets
from zoo.errors import Diverged, ZooError
from zoo.metrics import Protocol, Samples
from zoo.plugin_code import SHORT
from zoo.plugins import PluginInfo, Registry, ZooPluginWarning, load_registry
from zoo.provenance import provenance
from zoo.results import Row, cell_run_dir
from zoo.runs import NEIGHBOURS, Evaluation, Run
from zoo.stacked.runs import StackedRun


class CellRun:
    """One job inside its worker: the registry, the references it needs, and the phase it is in (named in a
    failure's cause). A model cell is a :class:`zoo.runs.Run` into its run folder in the work folder; what is the
    bench's here is the check of what the driver planned with, and the rows."""

    def __init__(self, job: Job):
        self.job, self.phase = job, "loading plugins"
        self.device = torch.device(job.device)
        self.run: Run | None = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ZooPluginWarning)  # the driver has shown them once
            self.registry: Registry = load_registry(job.load_plugins)
        if job.folder is not None:
            self.phase = "reading the image folder"
            source, options = job.folder
            self.registry, _ = with_datasets(self.registry, [source], options, data_root=job.data_root, progress=False)
        facts = provenance(self.device)
        self.machine = dict(
            threads=job.threads,
            workers=job.workers,
            host=socket.gethostname(),
            device=str(self.device),
            device_name=facts["device_name"],
            torch_version=facts["versions"]["torch"],
            zoo_version=facts["versions"]["genzoo"],
            git_commit=facts["git_commit"],
        )

    @property
    def where(self) -> str:
        """The phase the cell is in: its run's, once the run has started."""
        return self.run.phase if self.run else self.phase

    def plugins(self) -> dict[str, PluginInfo]:
        """The plugins this cell runs (``plugin``: the model's, for a model cell; ``dataset_plugin``), checked to be
        the distributions, versions and code the driver planned with (the key's records of them)."""
        self.phase = "checking the plugins"
        cell = self.job.cell
        found = {"dataset_plugin": self.registry.datasets.plugin(cell.dataset)}
        if not cell.is_floor:
            found["plugin"] = self.registry.models.plugin(cell.model)
        for field, info in found.items():
            here, planned = self.registry.code(info), self.job.key[field]
            if here.record() != planned:
                raise ZooError(
                    f"this worker ({socket.gethostname()}) has {_described(here.record())}, the bench was planned "
                    f"with {_described(planned)}: install the same plugins, at the same version and code, on every "
                    "node"
                )
        return found

    def references(self) -> list[scoring.Reference]:
        """Each protocol scoring this dataset (:func:`zoo.scoring.references`), checked to use the extractor
        weights and extractor plugins the driver planned with."""
        self.phase = "loading the reference images"
        dataset = self.job.cell.dataset
        found = scoring.references(self.registry, self.job.profile, dataset, data_root=self.job.data_root)
        planned = self.job.key["protocols"]
        for ref in found:
            if ref.protocol.weights_sha256 not in {p["weights_sha256"] for p in planned}:
                raise ZooError(
                    f"{ref.weights} on {socket.gethostname()} is not the extractor the bench was planned with (sha256 "
                    f"{ref.protocol.weights_sha256}): every node needs the same zoo and extractor weights"
                )
            extractor = ref.protocol.extractor_plugin
            if extractor is not None and extractor.record() not in [p.get("extractor_plugin") for p in planned]:
                raise ZooError(
                    f"this worker ({socket.gethostname()}) has extractor {ref.extractor.name} from "
                    f"{_described(extractor.record())}, which the bench was not planned with: install the same "
                    "plugins, at the same version and code, on every node"
                )
        return found

    def floor(self) -> Outcome:
        """Real-vs-real rows: training images scored as if generated, against each protocol's reference."""
        job, cell = self.job, self.job.cell
        plugin = self.plugins()["dataset_plugin"]
        refs = self.references()
        self.phase = "scoring the training images"
        spec = self.registry.datasets[cell.dataset]
        train = load_split(spec, "train", root=job.data_root, limit=job.profile.train_limit)

        def training_images(protocol: Protocol) -> Samples:
            """``num_generated`` training images drawn with the protocol's seed, with their labels."""
            images, labels = random_subset(*train, protocol.settings.num_generated, seed=protocol.settings.seed)
            return Samples(images, labels if spec.num_classes else None, from_training_set=True)

        scores = scoring.score(refs, training_images, cache_dir=self._cache_dir, device=self.device)
        base = self._identity(self.job, plugin, hparams={}, precision="fp32", compiled=False)
        rows = [
            self._row(
                base,
                **s.columns(),
                step=0,
                images_seen=0,
                train_seconds=0.0,
                images_per_second=None,
                eval_seconds=None,
                params_generator=None,
                params_total=None,
            )
            for s in scores
        ]
        return Outcome("ok", rows, _protocols(refs))

    def model_cell(self) -> Outcome:
        """Train, evaluate and draw the grid of one (model, dataset, seed) cell into its run folder: ``ok`` or
        ``diverged at step N``."""
        plugin = self.plugins()["plugin"]
        evaluation = self._evaluation()
        run = self.run = self._run(self.job, evaluation)
        diverged = None
        try:
            run.execute(replace=True, checkpoint_every=run.config.steps)
        except Diverged as error:
            diverged = error
        return self._outcome(self.job, plugin, run, evaluation, diverged)

    def stacked_cells(self) -> Outcome:
        """The cells of a stacked job (seeds of one model on one dataset) trained as one stack
        (:class:`zoo.stacked.runs.StackedRun`): status ``stacked``, and each cell's outcome as :meth:`model_cell`
        gives it."""
        plugin = self.plugins()["plugin"]
        evaluation = self._evaluation()
        runs = [self._run(member, evaluation) for member in self.job.stack]
        self.run = runs[0]
        results = StackedRun(runs).execute(replace=True, checkpoint_every=runs[0].config.steps)
        outcomes = [
            self._outcome(member, plugin, run, evaluation, result if isinstance(result, Diverged) else None)
            for member, run, result in zip(self.job.stack, runs, results, strict=True)
        ]
        return Outcome("stacked", members=tuple(outcomes))

    def _evaluation(self) -> Evaluation:
        return Evaluation(self.references(), self.job.profile.eval_steps_for(self.job.cell.model), self._cache_dir)

    def _run(self, job: Job, evaluation: Evaluation) -> Run:
        """The run of ``job``'s cell, into its run folder in the work folder."""
        cell, config = job.cell, job.config
        assert config is not None
        return Run(
            self.registry,
            config,
            Path(job.work_dir) / cell_run_dir(cell),
            device=self.device,
            data_root=job.data_root,
            train_limit=job.profile.train_limit,
            evaluation=evaluation,
            progress=job.progress,
            description=f"{cell.model}/{cell.dataset}/s{cell.seed}",
        )

    def _outcome(
        self, job: Job, plugin: PluginInfo, run: Run, evaluation: Evaluation, diverged: Diverged | None
    ) -> Outcome:
        """``job``'s rows from its finished ``run`` (``diverged``: where its losses stopped being finite), with the
        grids of a run that finished."""
        cell = job.cell
        base = self._identity(
            job,
            plugin,
            hparams=run.config.hparams,
            precision=run.config.precision,
            compiled=run.config.compile,
            run=cell_run_dir(cell),
        )
        base |= dict(params_generator=run.params_generator, params_total=sum(run.parameters.values()))
        rows = [self._row(base, **asdict(s)) for s in run.scores]
        protocols = _protocols(evaluation.references)
        if diverged is None:
            traversals = {
                p.stem.removeprefix("traversal-"): p.read_bytes() for p in run.out_dir.glob("traversal-*.png")
            }
            neighbours = run.out_dir / NEIGHBOURS
            return Outcome(
                "ok",
                rows,
                protocols,
                (run.out_dir / "samples.png").read_bytes(),
                traversals,
                neighbours.read_bytes() if neighbours.exists() else None,
            )
        rows.append(
            self._row(
                base,
                protocol="",
                protocol_id="",
                metric="diverged",
                value=None,
                status="diverged",
                reason=f"non-finite loss: {diverged.losses}",
                step=diverged.step,
                images_seen=diverged.images_seen,
                train_seconds=None,
                images_per_second=None,
                eval_seconds=run.scores[-1].eval_seconds if run.scores else 0.0,
            )
        )
        return Outcome(f"diverged at step {diverged.step}", rows, protocols)

    @property
    def _cache_dir(self) -> Path:
        return Path(self.job.work_dir) / "reference-cache"

    def _row(self, base: dict[str, Any], **fields: Any) -> Row:
        return Row(**base, **self.machine, **fields)

    def _identity(self, job: Job, plugin: PluginInfo, **run: Any) -> dict[str, Any]:
        cell, code = job.cell, self.registry.code(plugin)
        return dict(
            model=cell.model,
            plugin=code.distribution,
            plugin_version=code.version,
            plugin_code=code.short,
            dataset=cell.dataset,
            seed=cell.seed,
            trial=cell.trial,
            hparams=json.dumps(run["hparams"], sort_keys=True),
            cell_key=job.key_id,
            precision=run["precision"],
            compiled=run["compiled"],
            run=run.get("run", ""),
        )


def _described(plugin: dict[str, str]) -> str:
    """A plugin record (:meth:`zoo.plugin_code.PluginCode.record`) in words: ``zoo-lsgan 1.0 (code 1a2b3c4d5e6f)``."""
    return f"{plugin['distribution']} {plugin['version']} (code {plugin.get('code_sha256', 'unrecorded')[:SHORT]})"


def _protocols(references: list[scoring.Reference]) -> dict[str, dict[str, Any]]:
    """Protocol id -> settings, as stored beside the rows in each cell file."""
    return {ref.protocol.id: ref.protocol.record() for ref in references}


def run_job(job: Job) -> Outcome:
    """Run ``job`` in this process with ``job.threads`` torch threads; any failure is returned, never raised."""
    started = time.perf_counter()
    torch.set_num_threads(job.threads)
    run: CellRun | None = None
    try:
        run = CellRun(job)
        outcome = run.floor() if job.cell.is_floor else run.stacked_cells() if job.stack else run.model_cell()
    except BaseException as error:  # noqa: BLE001 - plugin code: whatever it raises is this cell's failure
        phase = run.where if run else "loading plugins"
        cause = f"{phase}: {type(error).__name__}: {error}".replace("\n", " ")
        return Outcome.failed("error", cause, time.perf_counter() - started)
    seconds = time.perf_counter() - started  # a stack's cells took it all together
    members = tuple(dataclasses.replace(member, seconds=seconds) for member in outcome.members)
    return dataclasses.replace(outcome, seconds=seconds, members=members)


def process_main(conn: Connection, job: Job) -> None:
    """The entry point of a local worker process: run ``job`` and send its outcome to the driver over ``conn``.

    The worker takes the driver's current import path, environment and working directory
    (:class:`~zoo.bench.jobs.Origin`: it may be a fork of a server started earlier), leaves the driver's process
    group (a Ctrl-C in the terminal reaches the driver only, which ends its workers itself) and, on Linux, asks the
    kernel to kill it when its parent dies, so a driver killed with kill -9 leaves no orphan training on (its
    parent, the driver or the driver's fork server, ends with the driver).

    Its progress bars lock with a thread lock only: tqdm's default lock includes a multiprocessing one, which in a
    process the fork server started is a named semaphore, and a worker killed (at Ctrl-C, at its time limit) would
    leave it to multiprocessing's resource tracker, which warns of it after zoo's last line.
    """
    os.setpgid(0, 0)
    _die_with_parent()
    tqdm.set_lock(threading.RLock())
    if job.origin is not None:
        sys.path[:] = job.origin.sys_path
        importlib.invalidate_caches()
        os.environ.clear()
        os.environ.update(job.origin.environ)
        os.chdir(job.origin.cwd)
    outcome = run_job(job)
    try:
        conn.send(outcome)
    except (BrokenPipeError, ConnectionResetError):  # the driver was killed: nobody is left to report to
        return
    conn.close()


def _die_with_parent() -> None:
    """On Linux, get SIGKILL when this process's parent exits; exit now if it already has."""
    if not sys.platform.startswith("linux"):
        return
    parent, pr_set_pdeathsig = os.getppid(), 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)
