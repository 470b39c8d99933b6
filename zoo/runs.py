"""A training run on disk: what ``zoo train`` writes and ``zoo sample`` reads.

A run folder holds::

    config.json            model, dataset, resolved hyperparameters, seed, batch size, step budget,
                           plugin distribution + version, and provenance (git commit, versions, device)
    checkpoint.pt          full training state for --resume (torch.load(weights_only=True))
    generator.safetensors  generator weights at the last step
    samples.png            a grid of samples from the last step (fixed sampling seed)
    summary.json           steps done, images seen, training seconds, img/s, parameter counts, loss history
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from zoo.checkpoint import load_generator, save_generator
from zoo.data import InMemoryDataset, load_split
from zoo.device import resolve_device
from zoo.errors import PluginError, ZooError
from zoo.fileio import read_json, write_json
from zoo.imaging import save_grid
from zoo.interfaces import Generator, Trainer
from zoo.plugins import Registry
from zoo.provenance import provenance
from zoo.training import TrainResult, seed_everything, train

SAMPLING_SEED = 0
GRID_SIZE = 64
# The config keys that define the trajectory: a resume must match all of them (the step budget may grow).
_IDENTITY = ("model", "dataset", "seed", "batch_size", "hparams")


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's result, given the code."""

    model: str
    dataset: str
    steps: int
    batch_size: int
    seed: int
    hparams: dict[str, Any]


def build_trainer(registry: Registry, config: RunConfig, device: torch.device) -> Trainer:
    """Seed the global RNGs, then build the model's trainer for the dataset and move it to ``device``."""
    spec, dataset = registry.model(config.model), registry.dataset(config.dataset)
    if spec.conditional and dataset.num_classes == 0:
        raise ZooError(f"model {spec.name!r} is conditional and dataset {dataset.name!r} has no labels")
    seed_everything(config.seed)
    try:
        trainer = spec.factory(dataset.image_shape, dataset.num_classes, dict(config.hparams))
    except Exception as error:  # noqa: BLE001 - plugin code: bad hyperparameters, unsupported shapes, bugs
        raise PluginError(f"cannot build {spec.name!r} for {dataset.name!r}: {type(error).__name__}: {error}") from error
    return trainer.to(device)


def parameter_counts(trainer: Trainer) -> dict[str, int]:
    """Trainable parameter count per network, by the trainer's module names."""
    return {name: sum(p.numel() for p in m.parameters() if p.requires_grad) for name, m in trainer.modules().items()}


def sample_labels(generator: Generator, n: int) -> torch.Tensor | None:
    """For a conditional generator, labels ``0, 1, ..., K-1, 0, 1, ...`` so a grid's columns are classes."""
    return torch.arange(n) % generator.num_classes if generator.conditional else None


def save_sample_grid(generator: Generator, path: Path) -> Path:
    """A :data:`GRID_SIZE`-image PNG grid drawn with :data:`SAMPLING_SEED`; a conditional model's columns are classes."""
    rng = torch.Generator(device=generator.device).manual_seed(SAMPLING_SEED)
    samples = generator.sample(GRID_SIZE, generator=rng, labels=sample_labels(generator, GRID_SIZE))
    return save_grid(samples, path, nrow=generator.num_classes or None)


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
    Without ``resume``, a folder that already holds a run is refused rather than overwritten.
    """
    torch_device = resolve_device(device)
    spec = registry.model(config.model)
    config = RunConfig(**{**asdict(config), "hparams": spec.resolve_hparams(config.dataset, config.hparams)})
    config_path, checkpoint_path = out_dir / "config.json", out_dir / "checkpoint.pt"
    if resume:
        _check_resumable(config, config_path, checkpoint_path)
    elif config_path.exists():
        raise ZooError(f"{out_dir} already holds a run; pass --resume to continue it, or choose another --out")

    trainer = build_trainer(registry, config, torch_device)
    images, labels = load_split(registry.dataset(config.dataset), "train", root=data_root, download=download)
    data = InMemoryDataset(images, labels, device=torch_device)
    plugin = registry.model_plugin(config.model)
    write_json(
        config_path,
        {
            **asdict(config),
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
    )
    save_generator(out_dir / "generator.safetensors", trainer.generator)
    save_sample_grid(trainer.generator, out_dir / "samples.png")
    write_json(
        out_dir / "summary.json",
        {**asdict(result), "parameters": parameter_counts(trainer)},
    )
    return result


def load_run_generator(registry: Registry, run_dir: Path, device: str = "auto") -> Generator:
    """Rebuild a finished run's generator from its config and ``generator.safetensors``."""
    config_path = run_dir / "config.json"
    if not config_path.exists():
        raise ZooError(f"{run_dir} is not a zoo run folder (no config.json)")
    saved = read_json(config_path)
    config = RunConfig(**{key: saved[key] for key in RunConfig.__dataclass_fields__})
    generator = build_trainer(registry, config, resolve_device(device)).generator
    load_generator(run_dir / "generator.safetensors", generator)
    return generator


def _check_resumable(config: RunConfig, config_path: Path, checkpoint_path: Path) -> None:
    if not checkpoint_path.exists():
        raise ZooError(f"nothing to resume: {checkpoint_path} does not exist")
    saved = read_json(config_path)
    for key in _IDENTITY:
        if saved.get(key) != getattr(config, key):
            raise ZooError(
                f"cannot resume: {key} differs from the saved run ({saved.get(key)!r} there, {getattr(config, key)!r} now)"
            )
