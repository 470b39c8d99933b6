"""The bench's driver: plans a profile's cells, hands them to an executor's workers, records what comes back.

A cell is (model, dataset, seed), plus one real-data floor per dataset. The driver never trains or scores: each
cell runs in a worker (:mod:`zoo.bench.worker`, through :mod:`zoo.bench.executors` or
:mod:`zoo.bench.ray_executor`), which sends back rows and the sample grid; only the driver writes to the
results folder, each cell atomically, so a killed worker or driver leaves nothing half-written. Per dataset, the
floor runs first: it fills the reference-feature cache the dataset's cells then read, instead of several workers
computing it at once.

Before running a cell the driver claims it (:mod:`zoo.bench.claims`), so two benches on one results folder share
the work: a cell claimed by another live bench is waited for, then skipped once that bench has recorded it.
A stored cell with the same key (:func:`zoo.bench.jobs.cell_key`) is skipped; one with another key is stale, is
moved to ``superseded/`` and is re-run. A cell whose losses go non-finite is recorded as diverged at that step; a
cell whose plugin fails (raises, exits, crashes, hangs past the time limit) is recorded in ``failures/`` with the
cause, is not a result, and is tried again by the next run; the other cells go on either way.

Under a profile's ``[sweep]``, a model's cells are its trials times the seeds, each trial a setting drawn from the
model's search space (:meth:`Bench.setting`), each an ordinary cell named ``<model>~t<trial>-s<seed>``.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from typing import Protocol as Interface

import click

from zoo.bench import stacking
from zoo.bench.claims import Claim, Claims
from zoo.bench.jobs import Job, Outcome, cell_key, folder_source, key_changes, key_id
from zoo.bench.precheck import check_needs
from zoo.bench.profiles import Profile
from zoo.errors import PluginError, ZooError
from zoo.fileio import atomic_path
from zoo.hashing import sha256_file
from zoo.metrics import METRICS_CODE_VERSION, ProtocolSettings
from zoo.plugins import Registry
from zoo.results import Cell, ResultStore, neighbours_path, traversal_path
from zoo.runs import RunConfig, resolve_config
from zoo.search_space import draw

POLL_SECONDS = 2.0
"""How often the driver looks again at cells another bench holds (and refreshes its view of the workers)."""


class Executor(Interface):
    """Where cells run: :class:`zoo.bench.executors.LocalExecutor` or :class:`zoo.bench.ray_executor.RayExecutor`.
    ``capacity`` cells at once, each with ``threads`` torch threads, on ``device_type`` (``cpu`` or ``cuda``)."""

    capacity: int
    threads: int
    device_type: str

    def running(self) -> int: ...

    def start(self, job: Job) -> int | None: ...

    def wait(self, timeout: float) -> list[tuple[Job, Outcome]]: ...

    def stop(self) -> None: ...


@dataclass
class Plan:
    """What a bench will do: ``jobs`` (each dataset's floor, then its cells, in run order), ``unrunnable`` cells
    whose plugin failed while they were planned (with the cause), and ``problems`` (models left out: name clashes)."""

    jobs: list[Job]
    unrunnable: list[tuple[Cell, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BenchOptions:
    """How a bench runs its cells (the CLI's options, one name each).

    ``workers``: cells at once (None: one per GPU x ``cells_per_device`` on CUDA, the measured default on a CPU,
    what the cluster fits on Ray); ``cell_timeout``: seconds a cell may run (None: the profile's ``cell_timeout``,
    else no limit); ``executor``: ``local`` processes or ``ray`` tasks (at ``address``); ``precision`` (``fp32`` or
    ``bf16`` for the models that opt in) and ``compile``: how steps run (each cell's :class:`~zoo.runs.RunConfig`,
    so part of its key).
    """

    workers: int | None = None
    cells_per_device: int = 1
    cell_timeout: float | None = None
    executor: str = "local"
    address: str | None = None
    precision: str = "fp32"
    compile: bool = False
    stack_seeds: int = 1
    """Above 1: the seeds of each stackable model on each dataset run as stacks of up to this many cells, one
    worker each (:mod:`zoo.bench.stacking`)."""


class Bench:
    """Runs a profile's cells for a registry of models into a results folder.

    ``results_dir`` receives the tables and grids (``results/<profile>``); ``work_dir`` the bulky files: each
    cell's run folder and the reference-feature cache (workers write there; on a cluster, each node its own).
    Cells run on ``executor`` as ``options`` say; ``progress``: workers show progress bars. ``download``: the plan
    fetches a registered dataset's missing files (through its plugin) before any cell starts.
    """

    def __init__(
        self,
        registry: Registry,
        profile: Profile,
        *,
        results_dir: Path,
        work_dir: Path,
        executor: Executor,
        options: BenchOptions = BenchOptions(),  # noqa: B008 - frozen, so sharing the default is safe
        data_root: Path | None = None,
        download: bool = False,
        load_plugins: tuple[str, ...] | None = None,
        progress: bool = False,
        echo: Callable[[str], None] = click.echo,
    ):
        self.registry, self.profile, self.executor, self.options = registry, profile, executor, options
        self.download = download
        self.progress = progress
        self.store, self.claims = ResultStore(results_dir), Claims(results_dir)
        self.results_dir, self.work_dir = Path(results_dir), Path(work_dir)
        self.data_root, self.load_plugins, self.echo = data_root, load_plugins, echo
        self.counts = {"done": 0, "skipped": 0, "diverged": 0}
        self.failures: list[str] = []

    def plan(self, models: list[str] | None, datasets: list[str] | None = None, seeds: list[int] | None = None) -> Plan:
        """Every cell of ``models`` (None: every registered model) x datasets x seeds (the profile's unless given),
        after one floor per dataset.

        User mistakes (an unknown name, a bad hyperparameter in the profile) raise before any work, and so, in one
        error, does everything the cells would lack (:func:`zoo.bench.precheck.check_needs`: writable folders, the
        datasets' files, splits that hold the protocols' sample counts, extractor weights); each dataset gets the
        protocols :meth:`Profile.fitted_protocols` gives it (what was left out, replaced or capped is said in a
        line). A model whose name two plugins register is left out of ``models=None`` and listed in ``problems``;
        named explicitly, it is an error.
        """
        names, problems = self._models(models)
        chosen = datasets or list(self.profile.datasets)
        fitted = check_needs(
            self.registry,
            self.profile,
            chosen,
            data_root=self.data_root,
            folders={"--results": self.results_dir, "--work-dir": self.work_dir},
            download=self.download,
            echo=self.echo,
        )
        protocols = {name: self._protocols(name, fitted[name]) for name in chosen}
        trials = {model: self._trials(model) for model in names}
        plan = Plan([], problems=problems)
        unstacked: dict[tuple[str, str], str | None] = {}
        for dataset in chosen:
            plan.jobs.append(self._job(Cell.floor(dataset), None, protocols[dataset]))
        for dataset in chosen:
            labelled = self.registry.datasets[dataset].num_classes > 0
            for model in names:
                if self.registry.models[model].conditional and not labelled:
                    continue
                for cell in (Cell(model, dataset, s, t) for t in trials[model] for s in seeds or self.profile.seeds):
                    try:
                        config = self.config(cell)
                    except ZooError:
                        raise
                    except Exception as error:  # noqa: BLE001 - the plugin's spec misbehaves: its cells fail
                        plan.unrunnable.append((cell, f"planning: {type(error).__name__}: {error}"))
                        continue
                    job = self._job(cell, config, protocols[dataset])
                    if self.options.stack_seeds > 1 and self._stackable(config, unstacked):
                        job = stacking.marked(job, self.options.stack_seeds)
                    plan.jobs.append(job)
        return plan

    def _stackable(self, config: RunConfig, refused: dict[tuple[str, str], str | None]) -> bool:
        """Whether ``config``'s model stacks on its dataset (asked once per pair, in ``refused``; a refusal is said
        once)."""
        pair = config.model, config.dataset
        if pair not in refused:
            refused[pair] = stacking.refusal(self.registry, config)
            if refused[pair] is not None:
                self.echo(f"{config.model} on {config.dataset}: seeds not stacked: {refused[pair]}")
        return refused[pair] is None

    def _trials(self, model: str) -> list[int | None]:
        """The trials of ``model`` under the profile's sweep: ``[None]`` without one; trial 0 (the defaults) only
        for a model that declares no search space (said in a line), else every trial."""
        sweep = self.profile.sweep
        if sweep is None:
            return [None]
        if not self.registry.models[model].search_space:
            self.echo(f"{model}: declares no search space (ModelSpec.search_space); one trial, at its defaults")
            return [0]
        return list(range(sweep.trials))

    def setting(self, cell: Cell) -> dict[str, Any]:
        """The hyperparameters ``cell``'s trial draws (:func:`zoo.search_space.draw`; none outside a sweep), without
        those the profile pins: its ``hparams_per_model`` and, in a profile of tiny models, the model's
        ``tiny_hparams`` (so a tiny trial stays tiny and varies the rest)."""
        if cell.trial is None or self.profile.sweep is None:
            return {}
        spec = self.registry.models[cell.model]
        drawn = draw(spec.search_space, model=cell.model, sweep_seed=self.profile.sweep.seed, trial=cell.trial)
        pinned = set(self.profile.hparams_per_model.get(cell.model, {}))
        pinned |= set(spec.tiny_hparams) if self.profile.tiny_models else set()
        return {name: value for name, value in drawn.items() if name not in pinned}

    def config(self, cell: Cell) -> RunConfig:
        """The run configuration of ``cell``: the profile's budget, the model's resolved hyperparameters (its trial's
        :meth:`setting` under the profile's), and the precision (``bf16`` only when asked for and the model opts in)
        and compilation its steps run with."""
        asked = RunConfig(
            model=cell.model,
            dataset=cell.dataset,
            steps=self.profile.steps_for(cell.model),
            batch_size=self.profile.batch_size,
            seed=cell.seed,
            hparams={**self.setting(cell), **self.profile.hparams_per_model.get(cell.model, {})},
            precision=self.options.precision,
            compile=self.options.compile,
        )
        return resolve_config(self.registry.models[cell.model], asked, tiny=self.profile.tiny_models)

    def run(self, plan: Plan, *, force: bool = False) -> dict[str, int]:
        """Run the unfinished jobs of ``plan`` (all with ``force``) on the executor; returns (and keeps in
        ``self.counts`` as it goes, for an interrupted run) the cells done, skipped and diverged. Failures are in
        ``self.failures``. On any exit (Ctrl-C included) the running workers are ended and the claims released."""
        self.store.remove_partial_files()  # what a killed bench was writing
        self.store.write_table()  # derived: repairs a table a crash left behind
        for cell, cause in plan.unrunnable:
            self._fail(cell, {}, "not run", cause)
        todo = stacking.stacked([job for job in plan.jobs if self._needs_run(job, force)])
        self._drive(deque(todo), self.executor, force)
        return self.counts

    def _needs_run(self, job: Job, force: bool) -> bool:
        stored = self.store.stored_key(job.cell)
        if stored is None:
            return True
        if stored != job.key:
            moved = self.store.supersede(job.cell, key_id(stored))
            self.echo(
                f"{job.cell}: settings changed ({key_changes(stored, job.key)}); re-running it (old rows: {moved})"
            )
            return True
        if force:
            return True
        if not job.cell.is_floor:
            self.echo(f"{job.cell}: finished earlier, skipped")
            self.counts["skipped"] += 1
        return False

    def _drive(self, pending: deque[Job], executor: Executor, force: bool) -> None:
        """Hand ``pending`` out as workers come free and record each outcome; a dataset's cells wait for its floor."""
        total, finished = sum(len(job.members) for job in pending), 0
        floors = {job.cell.dataset for job in pending if job.cell.is_floor}
        claims: dict[Cell, Claim] = {}
        held_elsewhere: set[Cell] = set()
        try:
            while pending or claims:
                started = self._hand_out(pending, executor, floors, claims, held_elsewhere, force)
                if not claims and pending and not started:
                    time.sleep(POLL_SECONDS)  # everything left is another bench's: wait for it
                    continue
                for job, outcome in executor.wait(POLL_SECONDS):
                    for member, member_outcome in zip(
                        job.members, outcome.members or [outcome] * len(job.members), strict=True
                    ):
                        claims.pop(member.cell).release()
                        finished += 1
                        self._record(member, member_outcome, f"[{finished}/{total}]")
                    if job.cell.is_floor:
                        floors.discard(job.cell.dataset)
                        if not outcome.is_result:
                            self._drop_cells_of(job.cell.dataset, pending, outcome.cause)
        finally:
            executor.stop()
            for claim in claims.values():
                claim.release()

    def _hand_out(
        self,
        pending: deque[Job],
        executor: Executor,
        floors: set[str],
        claims: dict[Cell, Claim],
        held_elsewhere: set[Cell],
        force: bool,
    ) -> int:
        """Start pending jobs on free workers, in order, skipping cells waiting for their dataset's floor and cells
        another bench holds; returns how many started."""
        started = 0
        for job in list(pending):
            if executor.running() >= executor.capacity:
                break
            if not job.cell.is_floor and job.cell.dataset in floors:
                continue
            taken = self._claim([member.cell for member in job.members], held_elsewhere)
            if taken is None:
                continue
            pending.remove(job)
            members = []
            for member, claim in zip(job.members, taken, strict=True):
                if self.store.stored_key(member.cell) == member.key and (not force or member.cell in held_elsewhere):
                    claim.release()  # another bench recorded it since we planned
                    self.echo(f"{member.cell}: finished by another bench, skipped")
                    self.counts["skipped"] += not member.cell.is_floor
                    if member.cell.is_floor:
                        floors.discard(member.cell.dataset)
                    continue
                members.append(member)
                claims[member.cell] = claim
            if not members:
                continue
            pid = executor.start(stacking.stack_of(members) if job.stack else job)
            for member in members:
                claims[member.cell].note_worker(pid)
            started += 1
        return started

    def _claim(self, cells: list[Cell], held_elsewhere: set[Cell]) -> list[Claim] | None:
        """A claim on every one of ``cells``, or (one is another bench's: said once per cell) none."""
        taken = []
        for cell in cells:
            claim = self.claims.try_claim(cell)
            if claim is None:
                for other in taken:
                    other.release()
                if cell not in held_elsewhere:
                    held_elsewhere.add(cell)
                    self.echo(f"{cell}: running in another bench ({self.claims.holder(cell)}); waiting for it")
                return None
            taken.append(claim)
        return taken

    def _drop_cells_of(self, dataset: str, pending: deque[Job], cause: str) -> None:
        for job in [j for j in pending if j.cell.dataset == dataset]:
            pending.remove(job)
            for member in job.members:
                self._fail(member.cell, member.key, "not run", f"the real-data floor of {dataset} failed: {cause}")

    def _record(self, job: Job, outcome: Outcome, prefix: str) -> None:
        """Write a finished job's grid and cell file (the cell file last: it marks the cell finished), or its
        failure record, and say so in one line."""
        took = f" ({outcome.seconds:.0f} s)" if outcome.seconds is not None else ""
        if not outcome.is_result:
            self._fail(job.cell, job.key, outcome.kind, outcome.cause, prefix)
            return
        if outcome.grid_png:
            with atomic_path(self.results_dir / "grids" / job.cell.dataset / f"{job.cell.name}.png") as tmp:
                tmp.write_bytes(outcome.grid_png)
        for code, png in outcome.traversals.items():
            with atomic_path(traversal_path(self.results_dir, job.cell, code)) as tmp:
                tmp.write_bytes(png)
        if outcome.neighbours_png:
            with atomic_path(neighbours_path(self.results_dir, job.cell)) as tmp:
                tmp.write_bytes(outcome.neighbours_png)
        self.store.write_cell(job.cell, job.key, outcome.rows, outcome.protocols)
        if not job.cell.is_floor:
            self.counts["done" if outcome.status == "ok" else "diverged"] += 1
        self.echo(f"{prefix} {job.cell}: {outcome.status}{took}")

    def _fail(self, cell: Cell, key: dict, kind: str, cause: str, prefix: str = "") -> None:
        self.store.write_failure(cell, key, kind, cause)
        self.failures.append(f"{cell}: {cause}")
        self.echo(f"{prefix} {cell}: FAILED ({kind}), not recorded: {cause}".lstrip())

    def _models(self, models: list[str] | None) -> tuple[list[str], list[str]]:
        """The models to bench and the problems with the others: with ``models=None``, every registered model
        except those two plugins register (each clash is a problem); named models must all be usable."""
        if models is not None:
            for name in models:
                self.registry.models[name]  # an unknown or clashing name fails here, before any work
            return models, []
        usable, problems = [], []
        for name in self.registry.models:
            try:
                self.registry.models[name]
            except PluginError as clash:
                problems.append(str(clash))
                self.echo(f"{name}: left out: {clash}")
                continue
            usable.append(name)
        return usable, problems

    def _protocols(self, dataset: str, fitted: tuple[ProtocolSettings, ...]) -> list[dict[str, Any]]:
        """What the key records of each protocol scoring ``dataset`` (``fitted``): its settings but the name and
        weights path, the weights' digest (None without weights), the metrics code version and, for a third-party
        extractor, its plugin's code (:meth:`Registry.extractor_code`); the reference images' digest is the
        worker's to take."""
        records = []
        for settings in fitted:
            weights = self.profile.weights_path(settings, dataset)
            record = {k: v for k, v in dataclasses.asdict(settings).items() if k not in ("name", "weights")}
            record |= {
                "weights_sha256": None if weights is None else sha256_file(weights),
                "metrics_code": METRICS_CODE_VERSION,
            }
            if (extractor := self.registry.extractor_code(settings.extractor)) is not None:
                record["extractor_plugin"] = extractor.record()
            records.append(record)
        return records

    def _job(self, cell: Cell, config: RunConfig | None, protocols: list[dict[str, Any]]) -> Job:
        dataset, dataset_plugin = self.registry.datasets[cell.dataset], self.registry.datasets.plugin(cell.dataset)
        plugin = dataset_plugin if config is None else self.registry.models.plugin(cell.model)
        key = cell_key(
            config,
            dataset=cell.dataset,
            profile=self.profile,
            plugin=self.registry.code(plugin),
            dataset_plugin=self.registry.code(dataset_plugin),
            protocols=protocols,
        )
        return Job(
            cell=cell,
            config=config,
            key=key,
            profile=self.profile,
            device=self.executor.device_type,
            threads=self.executor.threads,
            workers=self.executor.capacity,
            work_dir=str(self.work_dir),
            data_root=None if self.data_root is None else str(self.data_root),
            load_plugins=self.load_plugins,
            progress=self.progress,
            folder=folder_source(dataset),
        )
