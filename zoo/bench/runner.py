"""Running a benchmark: every (model, dataset, seed) cell of a profile, each trained, scored and stored.

A cell trains through zoo's one loop, evaluates at the profile's points (so FID-vs-steps is known) under every
protocol, saves a sample grid, and is written to the :class:`~zoo.bench.store.ResultStore` atomically when it
is done. Finished cells are skipped on a rerun (``force`` redoes them). A cell whose losses go non-finite is
recorded as diverged at that step and the bench goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import click
import torch

from zoo.bench.profiles import Profile
from zoo.bench.store import REAL_DATA, ResultStore
from zoo.data import InMemoryDataset, load_split
from zoo.device import resolve_device
from zoo.errors import Diverged, PluginError, ZooError
from zoo.imaging import to_uint8
from zoo.interfaces import Generator
from zoo.metrics import MetricValue, Protocol, evaluate, make_protocol
from zoo.metrics.extractors import add_extractor
from zoo.plugins import Registry
from zoo.provenance import provenance
from zoo.runs import RunConfig, build_trainer, parameter_counts, save_sample_grid
from zoo.training import train

SAMPLE_BATCH = 500


@dataclass(frozen=True)
class Cell:
    model: str
    dataset: str
    seed: int

    def __str__(self) -> str:
        return f"{self.model} on {self.dataset}, seed {self.seed}"


@dataclass
class DatasetContext:
    """What every cell of one dataset shares: training images in memory, and each protocol's reference."""

    train: InMemoryDataset
    references: dict[str, tuple[Protocol, torch.Tensor, Path]] = field(default_factory=dict)
    """protocol name -> (resolved protocol, reference uint8 images, extractor weights path)"""


def generate_uint8(generator: Generator, n: int, seed: int) -> torch.Tensor:
    """``n`` samples as uint8 ``[n, C, H, W]`` on the CPU, drawn in batches from one seeded ``torch.Generator``."""
    rng = torch.Generator(device=generator.device).manual_seed(seed)
    chunks = [to_uint8(generator.sample(min(SAMPLE_BATCH, n - i), generator=rng)).cpu() for i in range(0, n, SAMPLE_BATCH)]
    return torch.cat(chunks)


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

    def plan(self, models: list[str], datasets: list[str] | None = None, seeds: list[int] | None = None) -> list[Cell]:
        """Every cell of ``models`` x datasets x seeds (the profile's unless given), in run order."""
        for name in models:
            self.registry.model(name)  # an unknown or clashing name fails here, before any work
        chosen = datasets or list(self.profile.datasets)
        for name in chosen:
            self.registry.dataset(name)
        cells = [Cell(m, d, s) for d in chosen for m in models for s in (seeds or self.profile.seeds)]
        runnable = [c for c in cells if not (self.registry.model(c.model).conditional and not self.registry.dataset(c.dataset).num_classes)]
        for cell in runnable:
            self.config(cell)  # a bad hyperparameter in the profile fails here, before any work
        return runnable

    def config(self, cell: Cell) -> RunConfig:
        """The run configuration of ``cell``: the profile's budget and the model's resolved hyperparameters."""
        spec = self.registry.model(cell.model)
        hparams = spec.resolve_hparams(cell.dataset, self.profile.hparams_per_model.get(cell.model, {}))
        return RunConfig(
            model=cell.model, dataset=cell.dataset, steps=self.profile.steps_for(cell.model),
            batch_size=self.profile.batch_size, seed=cell.seed, hparams=hparams,
        )  # fmt: skip

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
            spec = self.registry.dataset(dataset)
            images, labels = load_split(spec, "train", root=self.data_root, limit=self.profile.train_limit)
            context = DatasetContext(InMemoryDataset(images, labels, device=self.device, num_classes=spec.num_classes))
            for settings in self.profile.protocols:
                if settings.extractor in self.registry.list_extractors():
                    add_extractor(self.registry.extractor(settings.extractor))
                weights = self.profile.weights_path(settings, dataset)
                if not weights.is_file():
                    raise ZooError(
                        f"extractor weights {weights} for protocol {settings.name!r} not found; for the domain "
                        f"classifier run: zoo extractor train --dataset {dataset}"
                    )
                reference, _ = load_split(spec, settings.reference_split, root=self.data_root, limit=settings.num_reference)
                if len(reference) < settings.num_reference:
                    raise ZooError(f"{dataset}/{settings.reference_split} has {len(reference)} images; protocol {settings.name!r} needs {settings.num_reference}")
                protocol = make_protocol(
                    name=settings.name, extractor=settings.extractor, weights_path=weights,
                    num_generated=settings.num_generated, num_reference=settings.num_reference,
                    reference_split=f"{dataset}/{settings.reference_split}", seed=settings.seed,
                    isc_splits=settings.isc_splits, kid_subset_size=settings.kid_subset_size,
                    kid_subsets=settings.kid_subsets, prc_neighborhood=settings.prc_neighborhood,
                )  # fmt: skip
                context.references[settings.name] = (protocol, reference, weights)
            self.contexts[dataset] = context
        return self.contexts[dataset]

    def _score(self, dataset: str, samples_for: Callable[[Protocol], torch.Tensor]) -> list[tuple[Protocol, str, Any]]:
        """(protocol, metric, MetricValue) under every protocol of the profile; ``samples_for(protocol)`` gives
        the uint8 images to score under that protocol (its ``num_generated``, drawn with its ``seed``)."""
        scored = []
        for protocol, reference, weights in self._context(dataset).references.values():
            values = evaluate(
                samples_for(protocol), reference_u8=reference, protocol=protocol, weights_path=weights,
                cache_dir=self.work_dir / "reference-cache", device=self.device,
            )  # fmt: skip
            scored.extend((protocol, metric, value) for metric, value in values.items())
        return scored

    def _row(self, protocol: Protocol | None, metric: str, value: MetricValue | None, **fields: Any) -> dict[str, Any]:
        """A long-table row; ``value`` None with ``status``/``reason`` in ``fields`` for a non-metric row."""
        available = value is not None and value.available
        return {
            "protocol": protocol.name if protocol else "",
            "protocol_id": protocol.id if protocol else "",
            "metric": metric,
            "value": value.value if available else None,
            "status": "ok" if available else "unavailable",
            "reason": "" if available or value is None else value.reason,
            "device": str(self.device),
            "device_name": self.provenance["device_name"],
            "torch_version": self.provenance["versions"]["torch"],
            "zoo_version": self.provenance["versions"]["genzoo"],
            "git_commit": self.provenance["git_commit"],
            **fields,
        }

    def _run_floor(self, dataset: str, force: bool) -> None:
        """Real-vs-real rows: training images scored as if generated, against each protocol's reference."""
        if self.store.is_finished(dataset, REAL_DATA, None) and not force:
            return
        self.echo(f"real-data floor for {dataset}")
        train_images = self._context(dataset).train.images.cpu()
        plugin = self.registry.dataset_plugin(dataset)
        fields = dict(
            model=REAL_DATA, plugin=plugin.distribution, plugin_version=plugin.version, dataset=dataset, seed=None,
            step=0, images_seen=0, train_seconds=0.0, images_per_second=None, eval_seconds=None,
            params_generator=None, params_total=None,
        )  # fmt: skip
        scored = self._score(dataset, lambda protocol: train_images[: protocol.num_generated])
        rows = [self._row(p, m, v, **fields) for p, m, v in scored]
        self.store.write_cell(dataset, REAL_DATA, None, rows)

    def _run_cell(self, cell: Cell) -> str:
        """Train, evaluate and store one cell; returns ``ok`` or ``diverged at step N``."""
        plugin = self.registry.model_plugin(cell.model)
        context = self._context(cell.dataset)
        config = self.config(cell)
        trainer = build_trainer(self.registry, config, self.device)
        params = parameter_counts(trainer)
        base = dict(
            model=cell.model, plugin=plugin.distribution, plugin_version=plugin.version, dataset=cell.dataset,
            seed=cell.seed, params_generator=sum(p.numel() for p in trainer.generator.parameters()),
            params_total=sum(params.values()),
        )  # fmt: skip
        rows: list[dict[str, Any]] = []
        eval_seconds = 0.0

        def on_evaluate(step: int, train_seconds: float) -> None:
            nonlocal eval_seconds
            started = time.perf_counter()
            scored = self._score(cell.dataset, lambda p: generate_uint8(trainer.generator, p.num_generated, seed=p.seed))
            eval_seconds += time.perf_counter() - started
            cost = dict(
                step=step, images_seen=step * config.batch_size, train_seconds=train_seconds,
                images_per_second=step * config.batch_size / max(train_seconds, 1e-9), eval_seconds=eval_seconds,
            )  # fmt: skip
            rows.extend(self._row(p, m, v, **base, **cost) for p, m, v in scored)

        cell_dir = self.work_dir / "runs" / cell.dataset / f"{cell.model}-s{cell.seed}"
        status = "ok"
        try:
            train(
                trainer, context.train, steps=config.steps, batch_size=config.batch_size, seed=config.seed,
                checkpoint_path=cell_dir / "checkpoint.pt", checkpoint_every=config.steps,
                evaluate_at=self.profile.eval_steps_for(cell.model), on_evaluate=on_evaluate,
                progress=self.progress, description=f"{cell.model}/{cell.dataset}/s{cell.seed}",
            )  # fmt: skip
        except Diverged as diverged:
            status = f"diverged at step {diverged.step}"
            rows.append(self._row(
                None, "diverged", None, **base, step=diverged.step, images_seen=diverged.step * config.batch_size,
                train_seconds=None, images_per_second=None, eval_seconds=eval_seconds,
                status="diverged", reason=f"non-finite loss: {diverged.losses}",
            ))  # fmt: skip
        if status == "ok":
            save_sample_grid(trainer.generator, self.results_dir / "grids" / cell.dataset / f"{cell.model}-s{cell.seed}.png")
        self.store.write_cell(cell.dataset, cell.model, cell.seed, rows)
        return status
