"""The model contract, as checks any plugin can be run against (zoo's own suite runs them on the built-ins).

Each check takes a :class:`ModelSpec` and a :class:`Probe` (image shape, class count, device, model size) and
raises ``AssertionError`` with a message saying what is wrong. Checks build the model with its ``tiny_hparams``
(unless the probe asks for full size) and train for a few steps on random data at batch size 4, so the whole kit
takes seconds per model; ``exact_resume`` also runs at the model's ``resume_hparams`` when it declares them, and
``search_space`` builds the model at the corners of its search space.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zoo.checkpoint import load_generator, save_generator
from zoo.data import InMemoryDataset
from zoo.errors import PluginError, describe
from zoo.factory import create_trainer
from zoo.interfaces import Batch, Generator, ImageShape, ModelSpec, Trainer
from zoo.plugins import Registry
from zoo.search_space import corners
from zoo.training import batches_per_step, train

BATCH = 4


@dataclass(frozen=True)
class Probe:
    """The setting the checks run in: an image shape, a class count, a device, whether the model is built
    with its ``tiny_hparams`` (fast) or at full size, and ``hparams`` given on top of those."""

    image_shape: ImageShape = (1, 28, 28)
    num_classes: int = 10
    device: str = "cpu"
    tiny: bool = True
    hparams: dict[str, Any] = dataclasses.field(default_factory=dict)


PROBE_SHAPES: dict[str, ImageShape] = {"28x28": (1, 28, 28), "32x32x3": (3, 32, 32), "64x64x3": (3, 64, 64)}
"""The image shapes a plugin is checked at, by name: MNIST's, CIFAR-10's, and 64x64 RGB (DCGAN's size, a CelebA or
image folder's default). ``zoo plugins check`` and the tests ``zoo plugins new`` writes run every check at each."""


def build(spec: ModelSpec, probe: Probe, seed: int = 0, overrides: dict[str, Any] | None = None) -> Trainer:
    """The model's trainer for ``probe`` (its hyperparameters over the tiny ones), with ``overrides`` over those (see
    :func:`zoo.factory.create_trainer`)."""
    hparams = spec.resolve_hparams(tiny=probe.tiny, overrides={**probe.hparams, **(overrides or {})})
    return create_trainer(spec, probe.image_shape, probe.num_classes, hparams=hparams, seed=seed, device=probe.device)


def random_data(probe: Probe, n: int = 32) -> InMemoryDataset:
    """``n`` random uint8 images with labels, on the probe's device."""
    generator = torch.Generator().manual_seed(1234)
    images = torch.randint(0, 256, (n, *probe.image_shape), generator=generator, dtype=torch.uint8)
    labels = torch.randint(0, max(probe.num_classes, 1), (n,), generator=generator)
    return InMemoryDataset(images, labels, device=torch.device(probe.device))


def step_batch(trainer: Trainer, data: InMemoryDataset, sampler: torch.Generator) -> Batch:
    """What the core's loop hands one step of ``trainer`` at batch size :data:`BATCH`: ``batches_per_step``
    batches, drawn with ``sampler``, concatenated."""
    return data.sample(BATCH * batches_per_step(trainer), sampler)


def _samples(
    generator: Generator,
    seed: int,
    n: int = BATCH,
    labels: torch.Tensor | None = None,
    codes: dict[str, float] | None = None,
) -> torch.Tensor:
    rng = torch.Generator(device=generator.device).manual_seed(seed)
    return generator.sample(n, generator=rng, labels=labels, codes=codes)


def check_metadata(spec: ModelSpec, probe: Probe) -> None:
    """Name, family, paper and license are filled in (a paper with a ``TODO`` placeholder, as ``zoo plugins new``
    writes it, is not); tiny hyperparameters are given; hyperparameters survive the JSON round trip of a run's
    config.json."""
    assert spec.family in ("gan", "vae"), f"family {spec.family!r} is not 'gan' or 'vae'"
    for field in ("paper", "license", "description"):
        assert getattr(spec, field), f"{field} is empty"
    assert not re.search(r"\bTODO\b", spec.paper), (
        f"paper is a placeholder ({spec.paper!r}): name the paper the model implements (authors, year, title, arXiv id)"
    )
    assert spec.tiny_hparams, "tiny_hparams is empty: give the values that make the model tiny for tests"
    for dataset in ("", *spec.dataset_hparams):
        hparams = spec.resolve_hparams(dataset)
        try:
            saved = json.loads(json.dumps(hparams))
        except TypeError as error:
            raise AssertionError(f"hyperparameters {hparams} are not JSON-serialisable: {error}") from None
        assert spec.resolve_hparams(dataset, saved) == hparams, f"hyperparameters {hparams} change in a JSON round trip"


def check_interfaces(spec: ModelSpec, probe: Probe) -> None:
    """The factory returns a Trainer whose generator declares latent_dim, num_classes and image_shape."""
    trainer = build(spec, probe)
    assert isinstance(trainer, Trainer), f"factory returned {type(trainer).__name__}, not a zoo.Trainer"
    generator = trainer.generator
    assert isinstance(generator, Generator), "trainer.generator is not a zoo.Generator"
    assert isinstance(generator.latent_dim, int) and generator.latent_dim > 0, "latent_dim must be a positive int"
    assert tuple(generator.image_shape) == tuple(probe.image_shape), (
        f"image_shape {generator.image_shape} != {probe.image_shape}"
    )
    expected_classes = probe.num_classes if spec.conditional else 0
    assert generator.num_classes == expected_classes, f"num_classes {generator.num_classes} != {expected_classes}"
    assert trainer.modules() and trainer.optimizers(), "modules() and optimizers() must not be empty"


def check_samples(spec: ModelSpec, probe: Probe) -> None:
    """Samples are float32 ``[N, C, H, W]`` in ``[-1, 1]`` on the model's device, and finite."""
    images = _samples(build(spec, probe).generator, seed=0)
    assert images.shape == (BATCH, *probe.image_shape), f"sample shape {tuple(images.shape)}"
    assert images.dtype == torch.float32, f"sample dtype {images.dtype}"
    assert images.device.type == torch.device(probe.device).type, f"samples on {images.device}"
    assert torch.isfinite(images).all(), "samples contain NaN or Inf"
    assert images.min() >= -1 and images.max() <= 1, "samples outside [-1, 1]"


def check_seeded_determinism(spec: ModelSpec, probe: Probe) -> None:
    """The same sampling seed gives the same images; another seed gives others."""
    generator = build(spec, probe).generator
    assert torch.equal(_samples(generator, 7), _samples(generator, 7)), "same seed, different samples"
    assert not torch.equal(_samples(generator, 7), _samples(generator, 8)), "different seeds, same samples"


def check_labels(spec: ModelSpec, probe: Probe) -> None:
    """A conditional model's samples depend on the labels; an unconditional one refuses labels."""
    generator = build(spec, probe).generator
    zeros = torch.zeros(BATCH, dtype=torch.long)
    if not spec.conditional:
        try:
            _samples(generator, 0, labels=zeros)
        except ValueError:
            return
        raise AssertionError("an unconditional generator accepted labels")
    assert not torch.equal(_samples(generator, 0, labels=zeros), _samples(generator, 0, labels=zeros + 1)), (
        "labels 0 and 1 give identical samples: labels are ignored"
    )


def check_training(spec: ModelSpec, probe: Probe) -> None:
    """Three steps give finite float losses and change the parameters of every network."""
    trainer = build(spec, probe)
    before = {name: [p.detach().clone() for p in m.parameters()] for name, m in trainer.modules().items()}
    data, sampler = random_data(probe), torch.Generator(device=probe.device).manual_seed(0)
    for _ in range(3):
        losses = trainer.train_step(step_batch(trainer, data, sampler))
        assert isinstance(losses, dict) and losses, f"train_step must return a dict of losses, got {losses!r}"
        for name, value in losses.items():
            is_scalar = isinstance(value, float) or (isinstance(value, torch.Tensor) and value.numel() == 1)
            assert is_scalar, f"loss {name!r} must be a scalar tensor or a float, got {value!r}"
            assert not (isinstance(value, torch.Tensor) and value.requires_grad), f"loss {name!r} is not detached"
            assert torch.isfinite(torch.as_tensor(value)).all(), f"non-finite losses: {losses}"
    for name, module in trainer.modules().items():
        changed = any(not torch.equal(old, new) for old, new in zip(before[name], module.parameters(), strict=True))
        assert changed, f"network {name!r} did not change in 3 steps"


def check_state_round_trip(spec: ModelSpec, probe: Probe) -> None:
    """Generator weights saved and loaded into a freshly built model give identical samples."""
    trained = build(spec, probe, seed=0)
    data, sampler = random_data(probe), torch.Generator(device=probe.device).manual_seed(0)
    trained.train_step(step_batch(trained, data, sampler))
    fresh = build(spec, probe, seed=1)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generator.safetensors"
        save_generator(path, trained.generator)
        load_generator(path, fresh.generator)
    assert torch.equal(_samples(trained.generator, 3), _samples(fresh.generator, 3)), "loaded generator samples differ"


def check_exact_resume(spec: ModelSpec, probe: Probe) -> None:
    """Training 4 steps equals training 2, checkpointing, rebuilding, resuming and training 2 more: the same losses
    and the same state of every network. At the probe's settings, then at the model's ``resume_hparams`` (over
    them) when it declares any."""
    _check_resume(spec, probe, {})
    if spec.resume_hparams:
        _check_resume(spec, probe, spec.resume_hparams)


def _check_resume(spec: ModelSpec, probe: Probe, overrides: dict[str, Any]) -> None:
    data = random_data(probe)
    at = f" (at resume_hparams {overrides})" if overrides else ""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "checkpoint.pt"
        options = dict(batch_size=BATCH, seed=0, progress=False, log_every=1)
        straight = build(spec, probe, overrides=overrides)
        expected = train(straight, data, steps=4, **options)
        interrupted = build(spec, probe, overrides=overrides)
        train(interrupted, data, steps=2, checkpoint_path=path, **options)
        resumed = build(spec, probe, seed=99, overrides=overrides)  # another init: all must come from the checkpoint
        result = train(resumed, data, steps=4, checkpoint_path=path, resume=True, **options)
    assert result.history == expected.history, f"losses after resume differ from an uninterrupted run{at}"
    for name, module in straight.modules().items():
        resumed_state = resumed.modules()[name].state_dict()
        for key, want in module.state_dict().items():
            assert torch.equal(want, resumed_state[key]), (
                f"{name}.{key} differs after resume{at}; state a step changes outside modules(), optimizers() and "
                "extra_state() is lost on resume"
            )


def check_latent_codes(spec: ModelSpec, probe: Probe) -> None:
    """A generator without latent codes refuses them; one that names codes (:attr:`zoo.Generator.latent_codes`)
    honours each when fixed (its value is used: two values give different samples) and keeps the prior's contract:
    the random numbers drawn do not depend on which codes are fixed (:meth:`zoo.Generator.prior`)."""
    generator = build(spec, probe).generator
    if not generator.latent_codes:
        try:
            _samples(generator, 0, codes={"c": 0})
        except ValueError:
            return
        raise AssertionError("a generator without latent codes accepted codes={'c': 0}")
    for code in generator.latent_codes:
        low, high = code.sweep()[[0, -1]].tolist()
        free, held = (torch.Generator(device=generator.device).manual_seed(5) for _ in range(2))
        generator.prior(BATCH, generator=free)
        generator.prior(BATCH, generator=held, codes={code.name: code.fixed(low, BATCH, generator.device)})
        assert torch.equal(free.get_state(), held.get_state()), (
            f"fixing code {code.name!r} changes how many random numbers the prior draws"
        )
        first, second = _samples(generator, 0, codes={code.name: low}), _samples(generator, 0, codes={code.name: high})
        assert not torch.equal(first, second), f"code {code.name!r} at {low:g} and {high:g} gives identical samples"


def check_search_space(spec: ModelSpec, probe: Probe) -> None:
    """At each corner of the model's search space (:func:`zoo.search_space.corners`: every range at its low end, then
    every one at its high end), over the probe's hyperparameters: the model builds and samples images of the probe's
    shape in ``[-1, 1]`` (no training step: at a corner's full size that would take the kit from seconds to
    minutes). Nothing to check for a model that declares no space."""
    for corner in corners(spec.search_space):
        try:
            images = _samples(build(spec, probe, overrides=corner).generator, 0)
            assert images.shape == (BATCH, *probe.image_shape), f"sample shape {tuple(images.shape)}"
            assert images.min() >= -1 and images.max() <= 1, "samples outside [-1, 1]"
        except Exception as error:  # noqa: BLE001 - a broken plugin may raise anything; say at which corner
            raise AssertionError(f"at the search space's corner {corner}: {describe(error)}") from None


CHECKS: dict[str, Callable[[ModelSpec, Probe], None]] = {
    "metadata": check_metadata,
    "interfaces": check_interfaces,
    "samples": check_samples,
    "seeded_determinism": check_seeded_determinism,
    "labels": check_labels,
    "training": check_training,
    "state_round_trip": check_state_round_trip,
    "exact_resume": check_exact_resume,
    "latent_codes": check_latent_codes,
    "search_space": check_search_space,
}


def run_checks(spec: ModelSpec, probe: Probe) -> list[tuple[str, str | None]]:
    """Every check on ``spec``: (check name, None when it passed, else what went wrong)."""
    results = []
    for name, check in CHECKS.items():
        try:
            check(spec, probe)
        except Exception as error:  # noqa: BLE001 - a broken plugin may raise anything; report it
            problem = str(error) if isinstance(error, AssertionError) else f"{type(error).__name__}: {error}"
            results.append((name, problem or "failed"))
        else:
            results.append((name, None))
    return results


def models_of(registry: Registry, names: Iterable[str]) -> list[str]:
    """Model names for ``names``, each a model name or a plugin's entry-point name (meaning all its models)."""
    models: list[str] = []
    for name in names:
        if name in registry.models:
            models.append(name)
            continue
        owned = [m for m in registry.models if registry.models.plugin(m).name == name]
        if not owned:
            plugin = next((p for p in registry.plugins if p.name == name), None)
            if plugin and plugin.error:
                raise PluginError(f"plugin {name} ({plugin.distribution}) failed to load: {plugin.error}")
            registry.models[name]  # raises: unknown model, listing the known ones
        models.extend(owned)
    return models
