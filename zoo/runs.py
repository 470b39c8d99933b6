"""A training run: :class:`Run`, the one pipeline of ``zoo train`` and of every bench cell, the folder it writes,
and :func:`load_run` for reading it back.

A run folder holds::

    config.json            model, dataset, image shape and classes, resolved hyperparameters, seed, batch size,
                           step budget, precision, compilation, plugin distribution + version, and provenance (git
                           commit, versions, device)
    checkpoint.pt          full training state for --resume (torch.load(weights_only=True))
    generator.safetensors  generator weights at the last step
    samples.png            a grid of samples from the last step (fixed sampling seed)
    traversal-<code>.png   for a generator that names latent codes, each code's traversal grid (zoo.latent)
    neighbours.png         the samples nearest the training images beside them, pairs in rows (memorisation)
    summary.json           steps done, images seen, training seconds, img/s, parameter counts, loss history, and
                           every metric at every evaluated step (the values a bench row holds; the costly ones
                           only at the last step: zoo.metrics.evaluate)

A bench cell is such a run, in ``<work dir>/runs/<dataset>/<model>-s<seed>``; its rows name that folder.

For your own analysis::

    generator, config = zoo.load_run("runs/dcgan-mnist-s0")
    images = generator.sample(16, generator=torch.Generator().manual_seed(0))   # [16, C, H, W] in [-1, 1]

A folder without ``checkpoint.pt`` or ``generator.safetensors`` holds no training state (training stopped before
its first checkpoint: a double Ctrl-C, a NaN, a crash), so a fresh ``zoo train`` may start over in it; one with
either is refused rather than overwritten. ``config.json`` is checked when read back: a file that is not JSON or
lacks a field is a one-line :class:`ZooError` naming it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pydantic
import torch

from zoo.checkpoint import load_generator, save_generator
from zoo.data import InMemoryDataset, load_split
from zoo.device import resolve_device
from zoo.errors import PluginError, UnknownName, UsageError, ZooError, describe
from zoo.factory import create_trainer
from zoo.fileio import read_json, writable_dir, write_json
from zoo.imaging import save_grid
from zoo.interfaces import Generator, ModelSpec, Trainer
from zoo.latent import CodeValue, traversal
from zoo.options import GRID_SIZE
from zoo.plugins import Registry, load_registry, prints_to_stderr
from zoo.provenance import provenance
from zoo.scoring import Reference, generator_samples, score
from zoo.training import TrainResult, train

SAMPLING_SEED = 0
# The config keys that define the trajectory: a resume must match all of them (the step budget may grow).
_IDENTITY = ("model", "dataset", "seed", "batch_size", "hparams")
NEIGHBOURS = "neighbours.png"
_TRAINING_STATE = (
    "checkpoint.pt",
    "generator.safetensors",
    "summary.json",
    "samples.png",
    "traversal-*.png",
    NEIGHBOURS,
)
"""What a run writes as it trains; a folder holding either of the first two holds a run."""


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's result, given the code. ``hparams`` are the model's resolved
    hyperparameters (:meth:`zoo.ModelSpec.resolve_hparams`) or, before resolution, the user's overrides;
    ``precision`` and ``compile`` how the steps run (:func:`zoo.training.train`)."""

    model: str
    dataset: str
    steps: int
    batch_size: int
    seed: int
    hparams: dict[str, Any]
    precision: str = field(default="fp32", kw_only=True)
    compile: bool = field(default=False, kw_only=True)


@dataclass(frozen=True)
class _SavedConfig(RunConfig):
    """The fields of ``config.json`` that zoo reads back (the provenance is for people)."""

    image_shape: tuple[int, int, int]
    num_classes: int
    plugin: dict[str, str] = field(default_factory=dict)


_SAVED_CONFIG = pydantic.TypeAdapter(_SavedConfig)


class TrainedRun(NamedTuple):
    """A finished run read back by :func:`load_run`: its generator (eval mode) and its ``config.json``."""

    generator: Generator
    config: dict[str, Any]


def parameter_counts(trainer: Trainer) -> dict[str, int]:
    """Trainable parameter count per network, by the trainer's module names."""
    return {name: sum(p.numel() for p in m.parameters() if p.requires_grad) for name, m in trainer.modules().items()}


def sample_images(
    generator: Generator,
    n: int = GRID_SIZE,
    *,
    labels: torch.Tensor | None = None,
    seed: int = SAMPLING_SEED,
    codes: Mapping[str, CodeValue] | None = None,
    sweep: str | None = None,
) -> tuple[torch.Tensor, int | None]:
    """Samples ``[N, C, H, W]`` in ``[-1, 1]`` drawn with ``seed``, and the grid row length that shows them best.

    ``N`` is ``n``, except for a conditional model without ``labels``: it draws ``ceil(n / K)`` samples of each of
    its ``K`` classes, class by class, so each grid ROW is one class (64 -> 10 rows of 7 for 10 classes). ``codes``
    (name -> value) hold latent codes of a model that names them (:attr:`Generator.latent_codes`) in every image.
    ``sweep`` names a code to traverse instead: :func:`zoo.latent.traversal`'s grid of ``ceil(n / V)`` rows, one
    draw of everything else per row, the code's ``V`` values across (a conditional model's row ``r`` has
    ``labels[r]`` when labels are given). Raises :class:`UsageError` for labels or codes the model cannot take."""
    try:
        with prints_to_stderr():
            if sweep is not None:
                return traversal(generator, sweep, n, seed=seed, fixed=codes, labels=labels)
            per_class = None
            if labels is None and generator.conditional:
                per_class = -(-n // generator.num_classes)
                labels = torch.arange(generator.num_classes).repeat_interleave(per_class)
                n = len(labels)
            rng = torch.Generator(device=generator.device).manual_seed(seed)
            images = generator.sample(n, generator=rng, labels=labels, codes=codes)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return images, per_class


def save_samples(generator: Generator, path: Path, n: int = GRID_SIZE, **options: Any) -> tuple[Path, int]:
    """A PNG grid of :func:`sample_images` (same options) at ``path``, written atomically; returns the path and the
    number of images in the grid."""
    images, nrow = sample_images(generator, n, **options)
    return save_grid(images, path, nrow=nrow), len(images)


def resolve_config(spec: ModelSpec, config: RunConfig, *, tiny: bool = False) -> RunConfig:
    """``config`` as it runs: the model's hyperparameters resolved for its dataset (``tiny``: with the spec's
    ``tiny_hparams`` under the overrides) and ``bf16`` kept only for a model that opts in (``ModelSpec.bf16``)."""
    return dataclasses.replace(
        config,
        hparams=spec.resolve_hparams(config.dataset, config.hparams, tiny=tiny),
        precision=config.precision if spec.bf16 else "fp32",
    )


@dataclass(frozen=True)
class Evaluation:
    """What a run is scored under and when: ``references`` (:func:`zoo.scoring.references`), the ``steps`` after
    which to score (the run's last step is always scored too), and the reference-feature ``cache_dir``."""

    references: list[Reference]
    steps: frozenset[int]
    cache_dir: Path


@dataclass(frozen=True)
class Scored:
    """One metric of a run at one evaluated step, with what the run had cost by then: the columns a bench row
    takes from its run. ``train_seconds`` counts training steps only; ``eval_seconds`` every evaluation so far."""

    protocol: str
    protocol_id: str
    metric: str
    value: float | None
    status: str
    reason: str
    step: int
    images_seen: int
    train_seconds: float
    images_per_second: float
    eval_seconds: float


class Run:
    """One training run, from its config to its folder: the pipeline of ``zoo train`` and of every bench cell.
    ``config`` is resolved on the way in (:func:`resolve_config`).

    :meth:`execute` loads the training images, builds the model (:func:`zoo.create_trainer`, seeded), trains it
    through zoo's one loop (:func:`zoo.training.train`), scores it under ``evaluation`` at its steps, and writes the
    run folder (see the module docstring). ``phase`` names what it is doing (for a failure's cause); ``scores``
    grows at each evaluation, so they survive a :class:`~zoo.errors.Diverged` raised later.
    """

    def __init__(
        self,
        registry: Registry,
        config: RunConfig,
        out_dir: Path,
        *,
        device: torch.device,
        data_root: Path | None = None,
        download: bool = False,
        train_limit: int | None = None,
        evaluation: Evaluation | None = None,
        progress: bool = True,
        description: str | None = None,
    ):
        self.registry, self.out_dir, self.device = registry, Path(out_dir), device
        self.spec, self.dataset = registry.models[config.model], registry.datasets[config.dataset]
        self.config = resolve_config(self.spec, config)
        self.data_root, self.download, self.train_limit = data_root, download, train_limit
        self.evaluation, self.progress = evaluation, progress
        self.description = description or f"{config.model}/{config.dataset}"
        self.phase = "starting"
        self.scores: list[Scored] = []
        self.parameters: dict[str, int] = {}
        self.params_generator = 0

    def execute(self, *, resume: bool = False, replace: bool = False, checkpoint_every: int = 500) -> TrainResult:
        """Train, score and write the run folder; returns what the training loop did.

        ``resume`` continues the run already in the folder (its config must match except for ``steps``); without
        it, a folder holding training state (a checkpoint or generator weights) is refused, unless ``replace``
        (the bench's own work folder), which deletes that state first. Raises :class:`~zoo.errors.Diverged`,
        :class:`~zoo.training.Interrupted` and :class:`~zoo.errors.PluginError` as :func:`zoo.training.train` does.
        What the plugin's code prints meanwhile goes to stderr (:func:`zoo.plugins.prints_to_stderr`).
        """
        with prints_to_stderr():
            return self._execute(resume, replace, checkpoint_every)

    def _execute(self, resume: bool, replace: bool, checkpoint_every: int) -> TrainResult:
        config = self.config
        self.prepare_folder(resume=resume, replace=replace)
        data = self.training_data()
        self.phase = "building the model"
        trainer = create_trainer(
            self.spec,
            self.dataset.image_shape,
            self.dataset.num_classes,
            hparams=config.hparams,
            seed=config.seed,
            device=self.device,
        )
        self.begin(trainer, resume=resume)
        self.phase = "training"
        result = train(
            trainer,
            data,
            steps=config.steps,
            batch_size=config.batch_size,
            seed=config.seed,
            checkpoint_path=self.out_dir / "checkpoint.pt",
            checkpoint_every=checkpoint_every,
            resume=resume,
            evaluate_at=self.evaluate_at,
            on_evaluate=self.evaluator(trainer),
            progress=self.progress,
            description=self.description,
            precision=config.precision,
            compile=config.compile,
        )
        self.finish(trainer, result)
        return result

    # The phases of execute, in order; zoo.stacked.runs.StackedRun runs them for each of its runs around one stack.

    def prepare_folder(self, *, resume: bool, replace: bool) -> None:
        """Check the run folder for ``resume`` or a fresh start (``replace``: delete training state there); see
        :meth:`execute`."""
        config, out = self.config, self.out_dir
        if resume:
            _check_resumable(config, out)
        elif replace:
            for path in [p for name in _TRAINING_STATE for p in out.glob(name)]:
                path.unlink()
        elif any((out / name).exists() for name in _TRAINING_STATE[:2]):
            raise ZooError(f"{out} already holds a run; pass --resume to continue it, or choose another --out")
        writable_dir(out, "choose another --out")

    def training_data(self) -> InMemoryDataset:
        """The training images, on the run's device."""
        self.phase = "loading the training images"
        images, labels = load_split(
            self.dataset, "train", root=self.data_root, download=self.download, limit=self.train_limit
        )
        return InMemoryDataset(images, labels, device=self.device, num_classes=self.dataset.num_classes)

    def begin(self, trainer: Trainer, *, resume: bool) -> None:
        """With the model built: its parameter counts, ``config.json``, and (resuming) the scores saved so far."""
        self.parameters = parameter_counts(trainer)
        self.params_generator = sum(p.numel() for p in trainer.generator.parameters())
        self._write_config()
        if resume:
            self.scores = _saved_scores(self.out_dir)

    @property
    def evaluate_at(self) -> frozenset[int]:
        """The steps after which the run is scored: the evaluation's and the last one (none without evaluation)."""
        return self.evaluation.steps | {self.config.steps} if self.evaluation else frozenset()

    def evaluator(self, trainer: Trainer) -> Callable[[int, int, float], None] | None:
        """The training loop's ``on_evaluate`` for ``trainer``: score its generator, keep the scores, write the
        summary (None without evaluation)."""
        if self.evaluation is None:
            return None
        eval_seconds = 0.0

        def on_evaluate(step: int, images_seen: int, train_seconds: float) -> None:
            nonlocal eval_seconds
            assert self.evaluation is not None
            self.phase = f"sampling and scoring at step {step}"
            started = time.perf_counter()
            final = step == self.config.steps
            scores = score(
                self.evaluation.references,
                generator_samples(trainer.generator),
                cache_dir=self.evaluation.cache_dir,
                device=self.device,
                final=final,
                neighbours_path=self.out_dir / NEIGHBOURS if final else None,
            )
            eval_seconds += time.perf_counter() - started
            self.scores = [s for s in self.scores if s.step < step]  # a resumed run passes a saved point again
            cost = dict(
                step=step,
                images_seen=images_seen,
                train_seconds=train_seconds,
                images_per_second=images_seen / max(train_seconds, 1e-9),
                eval_seconds=eval_seconds,
            )
            self.scores.extend(Scored(**s.columns(), **cost) for s in scores)
            self._write_summary(None)
            self.phase = "training"

        return on_evaluate

    def finish(self, trainer: Trainer, result: TrainResult) -> None:
        """After training: the generator's weights, the sample grid (and traversals), the summary."""
        out = self.out_dir
        self.phase = "drawing the sample grid"
        save_generator(out / "generator.safetensors", trainer.generator)
        save_samples(trainer.generator, out / "samples.png")
        for code in trainer.generator.latent_codes:
            save_samples(trainer.generator, out / f"traversal-{code.name}.png", sweep=code.name)
        self._write_summary(result)

    def _write_config(self) -> None:
        plugin = self.registry.models.plugin(self.config.model)
        write_json(
            self.out_dir / "config.json",
            {
                **asdict(self.config),
                "image_shape": list(self.dataset.image_shape),
                "num_classes": self.dataset.num_classes,
                "plugin": {"name": plugin.name, "distribution": plugin.distribution, "version": plugin.version},
                "provenance": provenance(self.device),
            },
        )

    def _write_summary(self, result: TrainResult | None) -> None:
        """``summary.json``: the training loop's result (None while training: written at each evaluation too, so
        the scores of a run that stops later are kept), the parameter counts and every score so far."""
        write_json(
            self.out_dir / "summary.json",
            {
                **(asdict(result) if result else {"finished": False}),
                "parameters": self.parameters,
                "params_generator": self.params_generator,
                "metrics": [asdict(s) for s in self.scores],
            },
        )


def load_run(run_dir: str | Path, *, device: str = "auto", registry: Registry | None = None) -> TrainedRun:
    """The generator of the finished run in ``run_dir`` (rebuilt from ``config.json`` and its safetensors
    weights, on ``device``, in eval mode) and that config. ``run_dir``: a ``zoo train`` run, a bench cell's run
    (the ``run`` column of its rows, under the bench's work folder) or an exported one (:mod:`zoo.export`). Needs
    the model's plugin installed."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    registry = registry or load_registry()
    try:
        spec = registry.models[config["model"]]
    except UnknownName:
        plugin = config.get("plugin", {})
        made_by = f"{plugin.get('distribution', '?')} {plugin.get('version', '')}".strip()
        raise PluginError(
            f"model {config['model']!r} of run {run_dir} is not installed; it came from {made_by}: install that "
            "distribution to load the run"
        ) from None
    shape, classes, hparams = config["image_shape"], config["num_classes"], config["hparams"]
    try:
        with prints_to_stderr():
            trainer = create_trainer(spec, shape, classes, hparams=hparams, device=resolve_device(device))
    except UsageError as error:  # hyperparameters the model (as installed now) does not take
        raise ZooError(f"{run_dir / 'config.json'} does not fit {spec.name!r} as installed: {error}") from None
    load_generator(weights_file(run_dir), trainer.generator)
    return TrainedRun(trainer.generator.eval(), config)


def weights_file(run_dir: Path) -> Path:
    """The generator weights of a run folder (``generator.safetensors``) or of an exported one
    (``model.safetensors``, :mod:`zoo.export`); a :class:`ZooError` when there are none."""
    for name in ("generator.safetensors", "model.safetensors"):
        if (run_dir / name).is_file():
            return run_dir / name
    raise ZooError(f"{run_dir} holds no generator weights (generator.safetensors): its training has not finished")


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The ``config.json`` of the run in ``run_dir``, its fields checked (types converted, e.g. ``image_shape`` to
    a tuple); a missing, non-JSON or incomplete file is a one-line :class:`ZooError` naming it."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ZooError(f"{run_dir} is not a zoo run folder (no config.json)")
    try:
        raw = read_json(path)
        checked = asdict(_SAVED_CONFIG.validate_python(raw))
        return {**raw, **checked}
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        problem = f"field {'.'.join(map(str, first['loc']))}: {first['msg']}" if first["loc"] else "not a JSON object"
    except ValueError as error:  # not JSON, not text
        problem = f"not valid JSON ({describe(error)})"
    raise ZooError(f"{path} is damaged: {problem}; restore it, or train the run again in another folder")


def _saved_scores(run_dir: Path) -> list[Scored]:
    """The scores in ``run_dir``'s ``summary.json`` (none when it has none, or none yet)."""
    path = run_dir / "summary.json"
    if not path.is_file():
        return []
    try:
        return [Scored(**record) for record in read_json(path).get("metrics", [])]
    except (ValueError, TypeError, AttributeError) as error:
        raise ZooError(f"{path} is damaged ({describe(error)}); delete it to resume without its scores") from None


def _check_resumable(config: RunConfig, out_dir: Path) -> None:
    if not (out_dir / "checkpoint.pt").exists():
        if (out_dir / "config.json").exists():
            raise ZooError(
                f"nothing to resume in {out_dir}: its training stopped before the first checkpoint; run the same "
                "command without --resume to start it afresh there"
            )
        raise ZooError(f"nothing to resume: {out_dir} holds no run; run the command without --resume to start one")
    saved = read_config(out_dir)
    for key in _IDENTITY:
        now = json.loads(json.dumps(getattr(config, key)))  # as saved: tuples are lists in JSON
        if saved.get(key) != now:
            raise ZooError(f"cannot resume: {key} differs from the saved run ({saved.get(key)!r} there, {now!r} now)")
