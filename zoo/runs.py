"""A training run on disk: what ``zoo train`` writes, and :func:`load_run` for reading it back.

A run folder holds::

    config.json            model, dataset, image shape and classes, resolved hyperparameters, seed, batch size,
                           step budget, plugin distribution + version, and provenance (git commit, versions, device)
    checkpoint.pt          full training state for --resume (torch.load(weights_only=True))
    generator.safetensors  generator weights at the last step
    samples.png            a grid of samples from the last step (fixed sampling seed)
    summary.json           steps done, images seen, training seconds, img/s, parameter counts, loss history

For your own analysis::

    generator, config = zoo.load_run("runs/dcgan-mnist-s0")
    images = generator.sample(16, generator=torch.Generator().manual_seed(0))   # [16, C, H, W] in [-1, 1]

A folder without ``checkpoint.pt`` or ``generator.safetensors`` holds no training state (training stopped before
its first checkpoint: a double Ctrl-C, a NaN, a crash), so a fresh ``zoo train`` may start over in it; one with
either is refused rather than overwritten. ``config.json`` is checked when read back: a file that is not JSON or
lacks a field is a one-line :class:`ZooError` naming it.
"""

from __future__ import annotations

import json
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
from zoo.interfaces import Generator, Trainer
from zoo.options import GRID_SIZE
from zoo.plugins import Registry, load_registry
from zoo.provenance import provenance
from zoo.training import TrainResult, train

SAMPLING_SEED = 0
# The config keys that define the trajectory: a resume must match all of them (the step budget may grow).
_IDENTITY = ("model", "dataset", "seed", "batch_size", "hparams")


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
    generator: Generator, n: int = GRID_SIZE, *, labels: torch.Tensor | None = None, seed: int = SAMPLING_SEED
) -> tuple[torch.Tensor, int | None]:
    """Samples ``[N, C, H, W]`` in ``[-1, 1]`` drawn with ``seed``, and the grid row length that shows them best.

    ``N`` is ``n``, except for a conditional model without ``labels``: it draws ``ceil(n / K)`` samples of each of
    its ``K`` classes, class by class, so each grid ROW is one class (64 -> 10 rows of 7 for 10 classes).
    Raises :class:`UsageError` for labels the model cannot take."""
    per_class = None
    if labels is None and generator.conditional:
        per_class = -(-n // generator.num_classes)
        labels = torch.arange(generator.num_classes).repeat_interleave(per_class)
        n = len(labels)
    rng = torch.Generator(device=generator.device).manual_seed(seed)
    try:
        images = generator.sample(n, generator=rng, labels=labels)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return images, per_class


def save_samples(generator: Generator, path: Path, n: int = GRID_SIZE, **options: Any) -> tuple[Path, int]:
    """A PNG grid of :func:`sample_images` (same options) at ``path``, written atomically; returns the path and the
    number of images in the grid."""
    images, nrow = sample_images(generator, n, **options)
    return save_grid(images, path, nrow=nrow), len(images)


def train_run(
    registry: Registry,
    config: RunConfig,
    out_dir: Path,
    *,
    device: str = "auto",
    data_root: Path | None = None,
    download: bool = False,
    resume: bool = False,
    checkpoint_every: int = 500,
    progress: bool = True,
) -> TrainResult:
    """Train ``config`` into ``out_dir`` (see the module docstring for what is written there).

    ``resume`` continues the run already in ``out_dir``; its config must match except for ``steps``.
    Without ``resume``, a folder that holds training state (a checkpoint or generator weights) is refused rather
    than overwritten; one whose training stopped before its first checkpoint is started over.
    """
    torch_device = resolve_device(device)
    spec, dataset = registry.models[config.model], registry.datasets[config.dataset]
    config = RunConfig(**{**asdict(config), "hparams": spec.resolve_hparams(config.dataset, config.hparams)})
    config_path, checkpoint_path = out_dir / "config.json", out_dir / "checkpoint.pt"
    if resume:
        _check_resumable(config, out_dir)
    elif checkpoint_path.exists() or (out_dir / "generator.safetensors").exists():
        raise ZooError(f"{out_dir} already holds a run; pass --resume to continue it, or choose another --out")
    writable_dir(out_dir, "choose another --out")

    trainer = create_trainer(
        spec, dataset.image_shape, dataset.num_classes, hparams=config.hparams, seed=config.seed, device=torch_device
    )
    images, labels = load_split(dataset, "train", root=data_root, download=download)
    data = InMemoryDataset(images, labels, device=torch_device, num_classes=dataset.num_classes)
    plugin = registry.models.plugin(config.model)
    write_json(
        config_path,
        {
            **asdict(config),
            "image_shape": list(dataset.image_shape),
            "num_classes": dataset.num_classes,
            "plugin": {"name": plugin.name, "distribution": plugin.distribution, "version": plugin.version},
            "provenance": provenance(torch_device),
        },
    )
    result = train(
        trainer,
        data,
        steps=config.steps,
        batch_size=config.batch_size,
        seed=config.seed,
        checkpoint_path=checkpoint_path,
        checkpoint_every=checkpoint_every,
        resume=resume,
        progress=progress,
        description=f"{config.model}/{config.dataset}",
        precision=config.precision,
        compile=config.compile,
    )
    save_generator(out_dir / "generator.safetensors", trainer.generator)
    save_samples(trainer.generator, out_dir / "samples.png")
    write_json(out_dir / "summary.json", {**asdict(result), "parameters": parameter_counts(trainer)})
    return result


def load_run(run_dir: str | Path, *, device: str = "auto", registry: Registry | None = None) -> TrainedRun:
    """The generator of the finished run in ``run_dir`` (rebuilt from ``config.json`` and its safetensors
    weights, on ``device``, in eval mode) and that config. Needs the model's plugin installed."""
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
    try:
        trainer = create_trainer(
            spec, config["image_shape"], config["num_classes"], hparams=config["hparams"], device=resolve_device(device)
        )
    except UsageError as error:  # hyperparameters the model (as installed now) does not take
        raise ZooError(f"{run_dir / 'config.json'} does not fit {spec.name!r} as installed: {error}") from None
    load_generator(run_dir / "generator.safetensors", trainer.generator)
    return TrainedRun(trainer.generator.eval(), config)


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
