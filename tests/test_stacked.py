"""Seeds stacked into one training process (zoo.stacked): each member ends where its separate run ends (within the
float tolerance below) and writes the checkpoint its separate run writes; a stack resumes exactly; a model that
cannot be stacked is refused with its reason."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy
import pytest
import torch

from tests.helpers import read_png, smoke_profile, zoo
from zoo import ModelSpec
from zoo.bench.stacking import KEY as STACK_KEY
from zoo.checkpoint import load_checkpoint
from zoo.data import InMemoryDataset
from zoo.errors import Diverged
from zoo.factory import create_trainer
from zoo.gan import AuxLoss, GANTrainer, gradient_penalty_loss
from zoo.layers import DCGANDiscriminator, DCGANGenerator, spectral_norm
from zoo.plugins import load_registry
from zoo.results import Cell, ResultStore
from zoo.stacked import build_members, refusal, train_stacked
from zoo.training import train

REGISTRY = load_registry()
SHAPE, CLASSES, BATCH, STEPS, SEEDS, PAIR = (1, 16, 16), 10, 8, 4, (0, 1, 2), (3, 5)
CPU = torch.device("cpu")
TOLERANCE = dict(rtol=1e-4, atol=1e-3)
"""How close a member's numbers (losses, weights, BatchNorm statistics, optimiser moments, samples) are to its
separate run's after STEPS steps. Not bit for bit: under vmap a member's matmuls are batched and its convolutions
grouped, which reorders float sums (differences of about 1e-7 relative per op), and training carries them on. The
absolute part bounds the largest case: a bias followed by BatchNorm has a zero gradient up to rounding, which Adam
normalises into steps of up to lr, so that weight follows rounding noise in both runs and they differ by up to
lr per step (STEPS * 2e-4 = 8e-4; measured 1.5e-4 for cgan and vanilla_gan, below 1e-6 for the other weights)."""
REFUSED = {"vae": "VAETrainer) takes a step of its own", "infogan": "overrides GANTrainer.train_step"}
"""Built-ins whose trainer takes its own step, which stacking does not run, and the reason they are refused with."""
MODELS = [pytest.param(m, marks=() if m in {"dcgan", *REFUSED} else pytest.mark.slow) for m in REGISTRY.models]
"""Every registered model; the fast tier trains DCGAN's stack and checks the refusals, the slow tier the others."""


@pytest.fixture(scope="module")
def data() -> InMemoryDataset:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, *SHAPE), generator=generator, dtype=torch.uint8)
    return InMemoryDataset(images, torch.arange(64) % CLASSES, num_classes=CLASSES)


def members_of(spec: ModelSpec, seeds=SEEDS):
    return build_members(spec, SHAPE, CLASSES, hparams=spec.resolve_hparams(tiny=True), seeds=seeds, device=CPU)


def stackable(model: str) -> ModelSpec:
    spec = REGISTRY.models[model]
    reason = refusal(members_of(spec, seeds=(0,))[0].trainer)
    if model in REFUSED:
        assert reason is not None and REFUSED[model] in reason and "\n" not in reason
        pytest.skip(f"{model} is refused stacking: {reason}")
    assert reason is None, f"{model} is refused stacking: {reason}"
    return spec


def train_separately(spec: ModelSpec, seed: int, data: InMemoryDataset, checkpoint: Path, hparams=None):
    hparams = spec.resolve_hparams(tiny=True) if hparams is None else hparams
    trainer = create_trainer(spec, SHAPE, CLASSES, hparams=hparams, seed=seed)
    options = dict(steps=STEPS, batch_size=BATCH, seed=seed, log_every=1, checkpoint_every=2, progress=False)
    return trainer, train(trainer, data, checkpoint_path=checkpoint, **options)


def train_stack(members, data: InMemoryDataset, folder: Path, steps: int = STEPS, resume: bool = False):
    paths = [folder / f"member-{member.seed}.pt" for member in members]
    options = dict(steps=steps, batch_size=BATCH, log_every=1, checkpoint_every=2, progress=False)
    return train_stacked(members, data, checkpoint_paths=paths, resume=resume, **options), paths


def assert_same_structure(ours: Any, theirs: Any, where: str = "checkpoint", exact: bool = False) -> None:
    """Equal keys, lengths, shapes, dtypes, non-float values and RNG states; floats within TOLERANCE (or exactly)."""
    assert type(ours) is type(theirs), where
    if isinstance(ours, dict):
        assert list(ours) == list(theirs), where
        for key in ours:
            assert_same_structure(ours[key], theirs[key], f"{where}/{key}", exact or key == "rng")
    elif isinstance(ours, (list, tuple)):
        assert len(ours) == len(theirs), where
        for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same_structure(a, b, f"{where}[{index}]", exact)
    elif isinstance(ours, torch.Tensor) and ours.is_floating_point() and not exact:
        torch.testing.assert_close(ours, theirs, **TOLERANCE, msg=lambda text: f"{where}: {text}")
    elif isinstance(ours, torch.Tensor):
        assert ours.dtype == theirs.dtype and torch.equal(ours, theirs), where
    elif isinstance(ours, float) and not exact:
        assert math.isclose(ours, theirs, rel_tol=TOLERANCE["rtol"], abs_tol=TOLERANCE["atol"]), where
    else:
        assert ours == theirs, where


def samples(generator) -> torch.Tensor:
    labels = torch.arange(16) % generator.num_classes if generator.conditional else None
    return generator.sample(16, generator=torch.Generator().manual_seed(0), labels=labels)


@pytest.mark.parametrize("model", MODELS)
def test_each_member_ends_where_its_separate_run_ends(model, data, tmp_path):
    spec = stackable(model)
    members = members_of(spec)
    results, paths = train_stack(members, data, tmp_path)
    for member, result, path in zip(members, results, paths, strict=True):
        trainer, alone = train_separately(spec, member.seed, data, tmp_path / f"alone-{member.seed}.pt")
        assert_same_structure(load_checkpoint(path), load_checkpoint(tmp_path / f"alone-{member.seed}.pt"))
        assert (result.step, result.images_seen) == (alone.step, alone.images_seen)
        assert_same_structure(result.history, alone.history, "history")
        torch.testing.assert_close(samples(member.trainer.generator), samples(trainer.generator), **TOLERANCE)


@pytest.mark.parametrize("model", MODELS)
def test_a_stack_resumes_exactly(model, data, tmp_path):
    spec = stackable(model)
    whole, whole_paths = train_stack(members_of(spec, PAIR), data, tmp_path / "whole")
    train_stack(members_of(spec, PAIR), data, tmp_path / "halves", steps=2)
    resumed, resumed_paths = train_stack(members_of(spec, PAIR), data, tmp_path / "halves", resume=True)
    for a, b, path_a, path_b in zip(whole, resumed, whole_paths, resumed_paths, strict=True):
        assert a.history == b.history
        assert_same_structure(load_checkpoint(path_a), load_checkpoint(path_b), exact=True)


def test_a_member_checkpoint_resumes_as_a_separate_run(data, tmp_path):
    spec = REGISTRY.models["dcgan"]
    train_stack(members_of(spec, PAIR), data, tmp_path, steps=2)
    trainer = create_trainer(spec, SHAPE, CLASSES, hparams=spec.resolve_hparams(tiny=True), seed=5)
    options = dict(steps=STEPS, batch_size=BATCH, seed=5, log_every=1, progress=False, resume=True)
    train(trainer, data, checkpoint_path=tmp_path / "member-5.pt", **options)
    train_separately(spec, 5, data, tmp_path / "alone.pt")
    assert_same_structure(load_checkpoint(tmp_path / "member-5.pt"), load_checkpoint(tmp_path / "alone.pt"))


def gan(
    image_shape, num_classes, *, ema_decay: float = 0.0, spectral: bool = False, optimizer: str = "adam", aux: str = ""
) -> GANTrainer:
    """A tiny DCGAN with the GANTrainer switches the built-ins leave off (an average of G), or one that stacking
    refuses (spectral norm, an RMSprop D, an auxiliary loss of its own)."""
    discriminator = DCGANDiscriminator(image_shape, width=4)
    trainer = GANTrainer(
        DCGANGenerator(image_shape, latent_dim=8, width=4),
        spectral_norm(discriminator) if spectral else discriminator,
        lr=2e-4,
        betas=(0.5, 0.999),
        ema_decay=ema_decay,
        ema_start=2,
        aux_losses={
            "": [],
            "penalty": [gradient_penalty_loss(1.0)],
            "own": [AuxLoss("mean", lambda update: update.fake_scores.mean())],
        }[aux],
    )
    if optimizer == "rmsprop":
        trainer.opt_d = torch.optim.RMSprop(discriminator.parameters())
    return trainer


TOY = ModelSpec(name="toy", family="gan", conditional=False, paper="", factory=gan)


@pytest.mark.slow
@pytest.mark.parametrize("hparams", [{"ema_decay": 0.5}, {"aux": "penalty"}])
def test_an_average_and_a_penalty_with_batchnorm_stack(hparams, data, tmp_path):
    members = build_members(TOY, SHAPE, CLASSES, hparams=hparams, seeds=PAIR, device=CPU)
    assert refusal(members[0].trainer) is None
    _, paths = train_stack(members, data, tmp_path)
    for member, path in zip(members, paths, strict=True):
        train_separately(TOY, member.seed, data, tmp_path / "alone.pt", hparams)
        assert_same_structure(load_checkpoint(path), load_checkpoint(tmp_path / "alone.pt"))


@pytest.mark.parametrize(
    ("hparams", "reason"),
    [
        ({"spectral": True}, "its network 'D' is parametrised (e.g. spectral norm), which vmap cannot run"),
        ({"optimizer": "rmsprop"}, "its optimiser 'D' is a RMSprop; stacking runs Adam, AdamW, SGD (weight by weight)"),
        (
            {"aux": "own"},
            "its auxiliary loss 'mean' is not D's gradient penalty, the one term stacking draws per member",
        ),
    ],
)
def test_what_cannot_be_stacked_is_refused_with_its_reason(hparams, reason):
    assert refusal(create_trainer(TOY, SHAPE, CLASSES, hparams=hparams)) == reason


def test_a_member_that_diverges_stops_and_the_others_go_on(data, tmp_path):
    members = members_of(REGISTRY.models["dcgan"])  # three: the one in the middle diverges
    with torch.no_grad():
        members[1].trainer.discriminator.head.bias.fill_(math.nan)
    results, paths = train_stack(members, data, tmp_path)
    assert isinstance(results[1], Diverged) and results[1].step == 1
    assert not paths[1].exists()
    assert [results[0].step, results[2].step] == [STEPS, STEPS]
    assert all(load_checkpoint(paths[s])["step"] == STEPS for s in (0, 2))


def train_command(*args: object, folder: Path, data_root: Path, **options: object):
    return zoo(
        "train", "dcgan", "--dataset", "mnist", "--steps", STEPS, "--batch-size", BATCH, "--eval-at", 2,
        "--hparam", "width=4", "--hparam", "latent_dim=8", *args,
        profile=smoke_profile(folder), data_root=data_root, work_dir=folder / "work", **options,
    )  # fmt: skip


@pytest.mark.slow
def test_zoo_train_seeds_writes_each_run_folder_as_its_own_run(tiny_mnist_root, tmp_path):
    stacked = train_command("--seeds", "0,1", folder=tmp_path, data_root=tiny_mnist_root, out=tmp_path / "stack")
    assert stacked.exit_code == 0, stacked.output
    alone = train_command("--seed", 1, folder=tmp_path, data_root=tiny_mnist_root, out=tmp_path / "alone")
    assert alone.exit_code == 0, alone.output
    ours, theirs = tmp_path / "stack" / "dcgan-mnist-s1", tmp_path / "alone"
    assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir())
    config, summary = (json.loads((ours / name).read_text()) for name in ("config.json", "summary.json"))
    assert {**config, "provenance": None} == {**json.loads((theirs / "config.json").read_text()), "provenance": None}
    expected = json.loads((theirs / "summary.json").read_text())
    timing = {"seconds", "images_per_second", "train_seconds", "eval_seconds"}
    for record, their_record in zip(summary["metrics"], expected["metrics"], strict=True):
        assert {k: v for k, v in record.items() if k not in timing | {"value"}} == {
            k: v for k, v in their_record.items() if k not in timing | {"value"}
        }
        assert math.isclose(record["value"], their_record["value"], rel_tol=1e-3), record
    assert_same_structure(summary["history"], expected["history"], "history")
    assert_same_structure(load_checkpoint(ours / "checkpoint.pt"), load_checkpoint(theirs / "checkpoint.pt"))
    assert (read_png(ours / "samples.png").int() - read_png(theirs / "samples.png").int()).abs().max() <= 1
    for seed in (0, 1):
        assert f"trained dcgan on mnist (seed {seed}): {STEPS} steps" in stacked.output


@pytest.mark.slow
def test_zoo_train_seeds_resumes_every_run_exactly(tiny_mnist_root, tmp_path):
    assert (
        train_command("--seeds", "0,1", folder=tmp_path, data_root=tiny_mnist_root, out=tmp_path / "whole").exit_code
        == 0
    )
    half = train_command(
        "--seeds", "0,1", "--steps", 2, folder=tmp_path, data_root=tiny_mnist_root, out=tmp_path / "half"
    )
    assert half.exit_code == 0, half.output
    resumed = train_command(
        "--seeds", "0,1", "--resume", folder=tmp_path, data_root=tiny_mnist_root, out=tmp_path / "half"
    )
    assert resumed.exit_code == 0, resumed.output
    for seed in (0, 1):
        whole, half = (tmp_path / name / f"dcgan-mnist-s{seed}" for name in ("whole", "half"))
        assert (whole / "generator.safetensors").read_bytes() == (half / "generator.safetensors").read_bytes()
        ours, theirs = load_checkpoint(whole / "checkpoint.pt"), load_checkpoint(half / "checkpoint.pt")
        del ours["history"], theirs["history"]  # each call logs its last step: 4 here, 2 and 4 there
        assert_same_structure(ours, theirs, exact=True)


def test_zoo_train_seeds_refuses_a_model_that_cannot_be_stacked(tiny_mnist_root, tmp_path):
    result = zoo(
        "train", "vae", "--dataset", "mnist", "--seeds", "0,1", "--no-eval", data_root=tiny_mnist_root, out=tmp_path
    )
    assert result.exit_code == 1
    assert "model 'vae' cannot be stacked: its trainer (VAETrainer) takes a step of its own" in result.output
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--seed", 3, "--seeds", "0,1"), "--seed and --seeds contradict each other"),
        (("--seeds", "0,0"), "seeds are distinct numbers"),
        (("--seeds", "0,1", "--compile"), "stacked seeds are not compiled"),
    ],
)
def test_zoo_train_seeds_usage_errors(args, message, tiny_mnist_root, tmp_path):
    result = zoo("train", "dcgan", "--dataset", "mnist", "--no-eval", *args, data_root=tiny_mnist_root, out=tmp_path)
    assert result.exit_code == 2 and message in result.output, result.output


@pytest.mark.slow
def test_zoo_bench_stack_seeds_records_each_cell_as_its_own_job_does(tiny_mnist_root, tmp_path):
    profile = smoke_profile(tmp_path, seeds="[0, 1, 2]", steps="4", eval_at="[2]")

    def bench(name: str, *args: object):
        return zoo("bench", *args, profile=profile, results=tmp_path / name, work_dir=tmp_path / name / "work",
                   data_root=tiny_mnist_root)  # fmt: skip

    stacked = bench("stacked", "dcgan", "vae", "--stack-seeds", 2)
    assert stacked.exit_code == 0, stacked.output
    assert "vae on mnist: seeds not stacked: its trainer (VAETrainer) takes a step of its own" in stacked.output
    alone = bench("alone", "dcgan")
    assert alone.exit_code == 0, alone.output
    store, theirs = ResultStore(tmp_path / "stacked" / "tiny"), ResultStore(tmp_path / "alone" / "tiny")
    rows, expected = (s.rows().set_index(["model", "seed", "step", "metric"]) for s in (store, theirs))
    dcgan = rows.loc["dcgan"].sort_index()
    assert list(dcgan.index) == list(expected.loc["dcgan"].sort_index().index)
    assert dcgan["run"].tolist() == expected.loc["dcgan"].sort_index()["run"].tolist()
    values, their_values = dcgan["value"].to_numpy(), expected.loc["dcgan"].sort_index()["value"].to_numpy()
    assert numpy.allclose(values, their_values, rtol=1e-3, atol=1e-4, equal_nan=True)
    for seed in (0, 1, 2):
        assert store.stored_key(Cell("dcgan", "mnist", seed))[STACK_KEY] == 2
        assert STACK_KEY not in store.stored_key(Cell("vae", "mnist", seed))
        assert (tmp_path / "stacked" / "tiny" / "grids" / "mnist" / f"dcgan-s{seed}.png").exists()
    again = bench("stacked", "dcgan", "vae", "--stack-seeds", 2)
    assert again.output.count("finished earlier, skipped") == 6
