"""Running a benchmark: every (model, dataset, seed) cell of a profile, each trained, scored and stored.

A cell trains through zoo's one loop, evaluates at the profile's points (so FID-vs-steps is known) under every
protocol, saves a sample grid, and is written to the :class:`~zoo.bench.store.ResultStore` atomically when it
is done. Finished cells are skipped on a rerun (``force`` redoes them). A cell whose losses go non-finite is
recorded as diverged at that step and the bench goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import torch

from zoo.bench.profiles import Profile
from zoo.bench.store import REAL_DATA, ResultStore, Row
from zoo.data import InMemoryDataset, load_split
from zoo.device import resolve_device
from zoo.errors import Diverged, PluginError, ZooError
from zoo.factory import create_trainer
from zoo.interfaces import ExtractorSpec
from zoo.metrics import MetricValue, Protocol, ProtocolSettings, Samples, evaluate, generate_samples
from zoo.plugins import Registry
from zoo.provenance import provenance
from zoo.runs import RunConfig, parameter_counts, save_samples
from zoo.training import train

Scored = list[tuple[Protocol, str, MetricValue]]
"""(protocol, metric name, value) for every metric under every protocol of a profile."""


@dataclass(frozen=True)
class Cell:
    model: str
    dataset: str
    seed: int

    def __str__(self) -> str:
        return f"{self.model} on {self.dataset}, seed {self.seed}"


@dataclass(frozen=True)
class Reference:
    """One protocol resolved for one dataset: its extractor, the extractor's weights and the reference images."""

    protocol: Protocol
    extractor: ExtractorSpec
    weights: Path
    images: torch.Tensor


@dataclass(frozen=True)
class DatasetContext:
    """What every cell of one dataset shares: training images in memory, and each protocol's reference."""

    train: InMemoryDataset
    references: list[Reference]

    def protocols(self) -> dict[str, dict[str, Any]]:
        """Protocol id -> settings, as stored beside the rows in each cell file."""
        return {ref.protocol.id: ref.protocol.record() for ref in self.references}


class Bench:
    """Runs a profile's cells for a registry of models into a results folder.

    ``results_dir`` receives the tables and grids (``results/<profile>``); ``work_dir`` the bulky, disposable
    files: checkpoints and the reference-feature cache.
    """

    def __init__(
        self,
        registry: Registry,
        profile: Profile,
        *,
        results_dir: Path,
        work_dir: Path,
        data_root: Path | None = None,
        device: str = "auto",
        progress: bool = True,
        echo: Callable[[str], None] = click.echo,
    ):
        self.registry, self.profile = registry, profile
        self.store = ResultStore(results_dir)
        self.results_dir, self.work_dir = Path(results_dir), Path(work_dir)
        self.data_root, self.device = data_root, resolve_device(device)
        self.progress, self.echo = progress, echo
        self.contexts: dict[str, DatasetContext] = {}
        self.counts = {"done": 0, "skipped": 0, "diverged": 0}
        self.failures: list[str] = []
        self.provenance = provenance(self.device)
        self.machine = dict(
            device=str(self.device),
            device_name=self.provenance["device_name"],
            torch_version=self.provenance["versions"]["torch"],
            zoo_version=self.provenance["versions"]["genzoo"],
            git_commit=self.provenance["git_commit"],
        )

    def plan(self, models: list[str], datasets: list[str] | None = None, seeds: list[int] | None = None) -> list[Cell]:
        """Every cell of ``models`` x datasets x seeds (the profile's unless given), in run order."""
        for name in models:
            self.registry.models[name]  # an unknown or clashing name fails here, before any work
        chosen = datasets or list(self.profile.datasets)
        for name in chosen:
            self.registry.datasets[name]
        cells = [Cell(m, d, s) for d in chosen for m in models for s in (seeds or self.profile.seeds)]
        runnable = [
            c
            for c in cells
            if not (self.registry.models[c.model].conditional and not self.registry.datasets[c.dataset].num_classes)
        ]
        for cell in runnable:
            self.config(cell)  # a bad hyperparameter in the profile fails here, before any work
        return runnable

    def config(self, cell: Cell) -> RunConfig:
        """The run configuration of ``cell``: the profile's budget and the model's resolved hyperparameters."""
        spec = self.registry.models[cell.model]
        overrides = self.profile.hparams_per_model.get(cell.model, {})
        return RunConfig(
            model=cell.model,
            dataset=cell.dataset,
            steps=self.profile.steps_for(cell.model),
            batch_size=self.profile.batch_size,
            seed=cell.seed,
            hparams=spec.resolve_hparams(cell.dataset, overrides, tiny=self.profile.tiny_models),
        )

    def run(self, cells: list[Cell], *, force: bool = False) -> dict[str, int]:
        """Run the unfinished ``cells`` (all with ``force``), plus each dataset's real-data floor.

        Returns (and keeps in ``self.counts`` as it goes, for an interrupted run) the cells done, skipped and
        diverged. A cell whose plugin raises is reported, listed in ``self.failures`` and left unrecorded (a
        rerun tries it again); the other cells go on.
        """
        counts = self.counts
        for dataset in dict.fromkeys(c.dataset for c in cells):
            self._run_floor(dataset, force)
        for number, cell in enumerate(cells, 1):
            prefix = f"[{number}/{len(cells)}] {cell}"
            if self.store.is_finished(cell.dataset, cell.model, cell.seed) and not force:
                self.echo(f"{prefix}: finished earlier, skipped")
                counts["skipped"] += 1
                continue
            try:
                status = self._run_cell(cell)
            except PluginError as error:  # this plugin's fault: report it, keep going, do not record the cell
                self.failures.append(f"{cell}: {error}")
                self.echo(f"{prefix}: FAILED, not recorded: {error}")
                continue
            counts["done" if status == "ok" else "diverged"] += 1
            self.echo(f"{prefix}: {status}")
        return counts

    def _context(self, dataset: str) -> DatasetContext:
        if dataset not in self.contexts:
            spec = self.registry.datasets[dataset]
            images, labels = load_split(spec, "train", root=self.data_root, limit=self.profile.train_limit)
            train_data = InMemoryDataset(images, labels, device=self.device, num_classes=spec.num_classes)
            protocols = self.profile.protocols_for(spec, self.registry.extractors, self.echo)
            self.contexts[dataset] = DatasetContext(train_data, [self._reference(dataset, s) for s in protocols])
        return self.contexts[dataset]

    def _reference(self, dataset: str, settings: ProtocolSettings) -> Reference:
        weights = self.profile.weights_path(settings, dataset)
        extractor = self.registry.extractors[settings.extractor]
        spec = self.registry.datasets[dataset]
        images, labels = load_split(spec, settings.reference_split, root=self.data_root, limit=settings.num_reference)
        if len(images) < settings.num_reference:
            raise ZooError(
                f"{dataset}/{settings.reference_split} has {len(images)} images; protocol {settings.name!r} needs "
                f"{settings.num_reference}"
            )
        protocol = Protocol.resolve(
            settings,
            dataset=dataset,
            extractor=extractor,
            weights_path=weights,
            reference_images=images,
            reference_labels=labels,
            num_classes=spec.num_classes,
        )
        return Reference(protocol, extractor, weights, images)

    def _score(self, dataset: str, samples_for: Callable[[Protocol], Samples]) -> Scored:
        """Every metric under every protocol of the profile; ``samples_for(protocol)`` gives the samples to score
        under that protocol (its ``num_generated``, drawn with its ``seed``)."""
        scored = []
        for ref in self._context(dataset).references:
            values = evaluate(
                samples_for(ref.protocol),
                reference_u8=ref.images,
                protocol=ref.protocol,
                extractor=ref.extractor,
                weights_path=ref.weights,
                cache_dir=self.work_dir / "reference-cache",
                device=self.device,
            )
            scored.extend((ref.protocol, metric, value) for metric, value in values.items())
        return scored

    def _rows(self, scored: Scored, **fields: Any) -> list[Row]:
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

    def _run_floor(self, dataset: str, force: bool) -> None:
        """Real-vs-real rows: training images scored as if generated, against each protocol's reference."""
        if self.store.is_finished(dataset, REAL_DATA, None) and not force:
            return
        self.echo(f"real-data floor for {dataset}")
        context = self._context(dataset)
        train_images = context.train.images.cpu()
        plugin = self.registry.datasets.plugin(dataset)
        scored = self._score(dataset, lambda protocol: Samples(train_images[: protocol.settings.num_generated]))
        rows = self._rows(
            scored,
            model=REAL_DATA,
            plugin=plugin.distribution,
            plugin_version=plugin.version,
            dataset=dataset,
            seed=None,
            step=0,
            images_seen=0,
            train_seconds=0.0,
            images_per_second=None,
            eval_seconds=None,
            params_generator=None,
            params_total=None,
        )
        self.store.write_cell(dataset, REAL_DATA, None, rows, context.protocols())

    def _run_cell(self, cell: Cell) -> str:
        """Train, evaluate and store one cell; returns ``ok`` or ``diverged at step N``."""
        plugin = self.registry.models.plugin(cell.model)
        context = self._context(cell.dataset)
        config = self.config(cell)
        dataset = self.registry.datasets[cell.dataset]
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
            model=cell.model,
            plugin=plugin.distribution,
            plugin_version=plugin.version,
            dataset=cell.dataset,
            seed=cell.seed,
            params_generator=sum(p.numel() for p in trainer.generator.parameters()),
            params_total=sum(params.values()),
        )
        rows: list[Row] = []
        eval_seconds = 0.0

        def on_evaluate(step: int, train_seconds: float) -> None:
            nonlocal eval_seconds
            started = time.perf_counter()
            scored = self._score(cell.dataset, lambda p: generate_samples(trainer.generator, p))
            eval_seconds += time.perf_counter() - started
            rows.extend(
                self._rows(
                    scored,
                    **base,
                    step=step,
                    images_seen=step * config.batch_size,
                    train_seconds=train_seconds,
                    images_per_second=step * config.batch_size / max(train_seconds, 1e-9),
                    eval_seconds=eval_seconds,
                )
            )

        cell_dir = self.work_dir / "runs" / cell.dataset / f"{cell.model}-s{cell.seed}"
        status = "ok"
        try:
            train(
                trainer,
                context.train,
                steps=config.steps,
                batch_size=config.batch_size,
                seed=config.seed,
                checkpoint_path=cell_dir / "checkpoint.pt",
                checkpoint_every=config.steps,
                evaluate_at=self.profile.eval_steps_for(cell.model),
                on_evaluate=on_evaluate,
                progress=self.progress,
                description=f"{cell.model}/{cell.dataset}/s{cell.seed}",
            )
        except Diverged as diverged:
            status = f"diverged at step {diverged.step}"
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
        if status == "ok":
            save_samples(
                trainer.generator, self.results_dir / "grids" / cell.dataset / f"{cell.model}-s{cell.seed}.png"
            )
        self.store.write_cell(cell.dataset, cell.model, cell.seed, rows, context.protocols())
        return status
