"""Running one bench cell, in a worker process: train, evaluate at the profile's steps, draw the sample grid.

:func:`run_job` is what every executor calls in its worker (a local process or a Ray task). It loads the plugins
itself, checks that it has the model's plugin at the version the driver planned with, trains through zoo's one
loop, scores under every protocol of the profile, and returns an :class:`~zoo.bench.jobs.Outcome`: rows and the
grid as PNG bytes, never files in the results folder (the driver writes those). Everything a plugin's code does
(build, train, sample, evaluate; an exception, ``SystemExit`` or ``KeyboardInterrupt`` included) becomes this
cell's failure, with the phase it happened in; what it does that Python cannot catch (``os._exit``, a segfault,
being killed) ends the process, and the executor records that.
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
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import torch

from zoo.bench.jobs import Job, Outcome
from zoo.data import InMemoryDataset, load_split
from zoo.data.sources import with_datasets
from zoo.errors import Diverged, ZooError
from zoo.factory import create_trainer
from zoo.interfaces import ExtractorSpec
from zoo.metrics import MetricValue, Protocol, Samples, evaluate, generate_samples
from zoo.plugins import Registry, ZooPluginWarning, load_registry
from zoo.provenance import provenance
from zoo.results import Row
from zoo.runs import parameter_counts, save_samples
from zoo.training import train

SAMPLE_BATCH = {"cpu": 500, "cuda": 5000}
"""Samples drawn per generator call when scoring (:func:`zoo.metrics.generate_samples`), by device type: large
on a GPU, where a call is cheap and each one synchronises."""
Scored = list[tuple[Protocol, str, MetricValue]]
"""(protocol, metric name, value) for every metric under every protocol of a profile."""


@dataclass(frozen=True)
class Reference:
    """One protocol resolved for one dataset: its extractor, the extractor's weights and the reference images."""

    protocol: Protocol
    extractor: ExtractorSpec
    weights: Path
    images: torch.Tensor


class CellRun:
    """One job inside its worker: the registry, the data and the references it needs, and the phase it is in
    (named in a failure's cause)."""

    def __init__(self, job: Job):
        self.job, self.phase = job, "loading plugins"
        self.device = torch.device(job.device)
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

    def references(self) -> list[Reference]:
        """Each protocol scoring this dataset, resolved with its reference images, and checked to use the extractor
        weights the driver planned with."""
        self.phase = "loading the reference images"
        cell, profile = self.job.cell, self.job.profile
        spec = self.registry.datasets[cell.dataset]
        planned = {p["weights_sha256"] for p in self.job.key["protocols"]}
        found = []
        for settings in profile.protocols_for(spec, self.registry.extractors, lambda line: None):
            weights = profile.weights_path(settings, cell.dataset)
            extractor = self.registry.extractors[settings.extractor]
            images, labels = load_split(
                spec, settings.reference_split, root=self.job.data_root, limit=settings.num_reference
            )
            if len(images) < settings.num_reference:
                raise ZooError(
                    f"{cell.dataset}/{settings.reference_split} has {len(images)} images; protocol {settings.name!r} "
                    f"needs {settings.num_reference}"
                )
            protocol = Protocol.resolve(
                settings,
                dataset=cell.dataset,
                extractor=extractor,
                weights_path=weights,
                reference_images=images,
                reference_labels=labels,
                num_classes=spec.num_classes,
            )
            if protocol.weights_sha256 not in planned:
                raise ZooError(
                    f"{weights} on {socket.gethostname()} is not the extractor the bench was planned with (sha256 "
                    f"{protocol.weights_sha256}): every node needs the same zoo and extractor weights"
                )
            found.append(Reference(protocol, extractor, weights, images))
        return found

    def score(self, references: list[Reference], samples_for: Callable[[Protocol], Samples]) -> Scored:
        """Every metric under every protocol; ``samples_for(protocol)`` gives the samples to score under it."""
        scored = []
        for ref in references:
            values = evaluate(
                samples_for(ref.protocol),
                reference_u8=ref.images,
                protocol=ref.protocol,
                extractor=ref.extractor,
                weights_path=ref.weights,
                cache_dir=Path(self.job.work_dir) / "reference-cache",
                device=self.device,
            )
            scored.extend((ref.protocol, metric, value) for metric, value in values.items())
        return scored

    def rows(self, scored: Scored, **fields: Any) -> list[Row]:
        """One row per scored metric; ``fields`` are the cell's and the evaluation's columns."""
        return [
            Row(
                protocol=p.name,
                protocol_id=p.id,
                metric=metric,
                value=value.value,
                status="ok" if value.available else "unavailable",
                reason=value.reason or "",
                **self.machine,
                **fields,
            )
            for p, metric, value in scored
        ]

    def floor(self) -> Outcome:
        """Real-vs-real rows: training images scored as if generated, against each protocol's reference."""
        job, cell = self.job, self.job.cell
        references = self.references()
        self.phase = "scoring the training images"
        spec, plugin = self.registry.datasets[cell.dataset], self.registry.datasets.plugin(cell.dataset)
        most = max(ref.protocol.settings.num_generated for ref in references)
        images, _ = load_split(spec, "train", root=job.data_root, limit=min(most, job.profile.train_limit or most))
        scored = self.score(references, lambda protocol: Samples(images[: protocol.settings.num_generated]))
        rows = self.rows(
            scored,
            **self._identity(plugin.distribution, plugin.version, hparams={}, precision="fp32", compiled=False),
            step=0,
            images_seen=0,
            train_seconds=0.0,
            images_per_second=None,
            eval_seconds=None,
            params_generator=None,
            params_total=None,
        )
        return Outcome("ok", rows, _protocols(references))

    def model_cell(self) -> Outcome:
        """Train, evaluate and draw the grid of one (model, dataset, seed) cell: ``ok`` or ``diverged at step N``."""
        job, cell, config = self.job, self.job.cell, self.job.config
        assert config is not None
        plugin = self.registry.models.plugin(cell.model)
        if (plugin.distribution, plugin.version) != tuple(job.plugin):
            raise RuntimeError(
                f"this worker ({socket.gethostname()}) has {plugin.distribution} {plugin.version}, the bench was "
                f"planned with {job.plugin[0]} {job.plugin[1]}: install the same plugin versions on every node"
            )
        references = self.references()
        self.phase = "loading the training images"
        dataset = self.registry.datasets[cell.dataset]
        images, labels = load_split(dataset, "train", root=job.data_root, limit=job.profile.train_limit)
        data = InMemoryDataset(images, labels, device=self.device, num_classes=dataset.num_classes)
        self.phase = "building the model"
        trainer = create_trainer(
            self.registry.models[cell.model],
            dataset.image_shape,
            dataset.num_classes,
            hparams=config.hparams,
            seed=config.seed,
            device=self.device,
        )
        params = parameter_counts(trainer)
        base = dict(
            **self._identity(
                plugin.distribution,
                plugin.version,
                hparams=config.hparams,
                precision=config.precision,
                compiled=config.compile,
            ),
            params_generator=sum(p.numel() for p in trainer.generator.parameters()),
            params_total=sum(params.values()),
        )
        rows: list[Row] = []
        eval_seconds = 0.0

        def on_evaluate(step: int, train_seconds: float) -> None:
            nonlocal eval_seconds
            self.phase = f"sampling and scoring at step {step}"
            started = time.perf_counter()
            batch = SAMPLE_BATCH.get(self.device.type, SAMPLE_BATCH["cpu"])
            scored = self.score(references, lambda p: generate_samples(trainer.generator, p, batch_size=batch))
            eval_seconds += time.perf_counter() - started
            rows.extend(
                self.rows(
                    scored,
                    **base,
                    step=step,
                    images_seen=step * config.batch_size,
                    train_seconds=train_seconds,
                    images_per_second=step * config.batch_size / max(train_seconds, 1e-9),
                    eval_seconds=eval_seconds,
                )
            )
            self.phase = "training"

        self.phase = "training"
        work = Path(job.work_dir) / "runs" / cell.dataset / cell.name
        try:
            train(
                trainer,
                data,
                steps=config.steps,
                batch_size=config.batch_size,
                seed=config.seed,
                checkpoint_path=work / "checkpoint.pt",
                checkpoint_every=config.steps,
                evaluate_at=job.profile.eval_steps_for(cell.model),
                on_evaluate=on_evaluate,
                progress=job.progress,
                description=f"{cell.model}/{cell.dataset}/s{cell.seed}",
                precision=config.precision,
                compile=config.compile,
            )
        except Diverged as diverged:
            rows.append(
                Row(
                    **base,
                    **self.machine,
                    protocol="",
                    protocol_id="",
                    metric="diverged",
                    value=None,
                    status="diverged",
                    reason=f"non-finite loss: {diverged.losses}",
                    step=diverged.step,
                    images_seen=diverged.step * config.batch_size,
                    train_seconds=None,
                    images_per_second=None,
                    eval_seconds=eval_seconds,
                )
            )
            return Outcome(f"diverged at step {diverged.step}", rows, _protocols(references))
        self.phase = "drawing the sample grid"
        grid, _ = save_samples(trainer.generator, work / "grid.png")
        return Outcome("ok", rows, _protocols(references), grid.read_bytes())

    def _identity(self, plugin: str, version: str, **run: Any) -> dict[str, Any]:
        cell = self.job.cell
        return dict(
            model=cell.model,
            plugin=plugin,
            plugin_version=version,
            dataset=cell.dataset,
            seed=cell.seed,
            hparams=json.dumps(run["hparams"], sort_keys=True),
            cell_key=self.job.key_id,
            precision=run["precision"],
            compiled=run["compiled"],
        )


def _protocols(references: list[Reference]) -> dict[str, dict[str, Any]]:
    """Protocol id -> settings, as stored beside the rows in each cell file."""
    return {ref.protocol.id: ref.protocol.record() for ref in references}


def run_job(job: Job) -> Outcome:
    """Run ``job`` in this process with ``job.threads`` torch threads; any failure is returned, never raised."""
    started = time.perf_counter()
    torch.set_num_threads(job.threads)
    run: CellRun | None = None
    try:
        run = CellRun(job)
        outcome = run.floor() if job.cell.is_floor else run.model_cell()
    except BaseException as error:  # noqa: BLE001 - plugin code: whatever it raises is this cell's failure
        phase = run.phase if run else "loading plugins"
        cause = f"{phase}: {type(error).__name__}: {error}".replace("\n", " ")
        return Outcome.failed("error", cause, time.perf_counter() - started)
    return dataclasses.replace(outcome, seconds=time.perf_counter() - started)


def process_main(conn: Connection, job: Job) -> None:
    """The entry point of a local worker process: run ``job`` and send its outcome to the driver over ``conn``.

    The worker takes the driver's current import path, environment and working directory
    (:class:`~zoo.bench.jobs.Origin`: it may be a fork of a server started earlier), leaves the driver's process
    group (a Ctrl-C in the terminal reaches the driver only, which ends its workers itself) and, on Linux, asks the
    kernel to kill it when its parent dies, so a driver killed with kill -9 leaves no orphan training on (its
    parent, the driver or the driver's fork server, ends with the driver).
    """
    os.setpgid(0, 0)
    _die_with_parent()
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
