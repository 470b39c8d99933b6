"""A prior a model owns: ``Generator.prior`` (default ``N(0, I)``, the draws ``sample()`` always made), named latent
codes that ``sample()`` holds, traversal grids, ``zoo sample --code``, and the conformance check of the contract."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from tests.helpers import read_png
from tests.helpers import zoo as zoo_command
from tests.test_cli import assert_one_line_error
from tests.test_metrics import FlatDiscriminator
from zoo import Generator, ModelSpec, create_trainer
from zoo.conformance import CHECKS, Probe
from zoo.gan import GANTrainer
from zoo.latent import TRAVERSAL_STEPS, LatentCode, traversal
from zoo.runs import sample_images


class CodedGenerator(Generator):
    """A generator whose "images" ``[N, 1, 1, 5]`` are its latent input: two noise values uniform in ``[-1, 1]``,
    then ``digit`` (3 values, stored as ``value / 2``), then ``slant`` (continuous in ``[-1, 1]``) and ``width``
    (continuous in ``[0, 4]``, stored divided by 4), so a test reads the codes back off the samples.

    ``skip_fixed``: a prior that breaks the contract by not drawing the codes it is given."""

    latent_codes = (
        LatentCode("digit", "categorical", values=3),
        LatentCode("slant", "continuous"),
        LatentCode("width", "continuous", low=0.0, high=4.0),
    )

    def __init__(self, image_shape=(1, 1, 5), num_classes: int = 0, skip_fixed: bool = False, ignore: str = ""):
        super().__init__()
        self.latent_dim, self.num_classes, self.image_shape = 5, num_classes, tuple(image_shape)
        self.scale = nn.Parameter(torch.ones(()))
        self.skip_fixed, self.ignore = skip_fixed, ignore
        self.net = nn.Linear(5, math.prod(self.image_shape))  # for the conformance check at a real image shape

    def prior(self, n, *, generator=None, codes=None):
        codes = codes or {}
        noise = torch.rand(n, 2, generator=generator) * 2 - 1
        if self.skip_fixed and "digit" in codes:
            digit = codes["digit"]
        else:
            digit = codes.get("digit", torch.randint(3, (n,), generator=generator))
        slant = codes.get("slant", torch.rand(n, generator=generator) * 2 - 1)
        width = codes.get("width", torch.rand(n, generator=generator) * 4)
        return torch.cat([noise, (digit / 2)[:, None], slant[:, None], (width / 4)[:, None]], dim=1)

    def forward(self, z, labels=None):
        if self.ignore:
            z = z.clone()
            z[:, [c.name for c in self.latent_codes].index(self.ignore) + 2] = 0
        if self.image_shape == (1, 1, 5):
            return (self.scale * z).view(-1, *self.image_shape)
        return torch.tanh(self.net(z)).view(-1, *self.image_shape)


def read(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The noise and codes of :class:`CodedGenerator`'s samples."""
    z = images.flatten(1)
    return {"noise": z[:, :2], "digit": (z[:, 2] * 2).round().long(), "slant": z[:, 3], "width": z[:, 4] * 4}


def rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("model", ["dcgan", "cgan", "vae"])
def test_the_default_prior_is_the_standard_normal_that_sample_always_drew(registry, model):
    generator = create_trainer(registry.models[model], (1, 28, 28), 10, hparams=registry.models[model].tiny_hparams)
    generator = generator.generator.eval()
    assert generator.latent_codes == ()
    assert torch.equal(generator.prior(6, generator=rng(3)), torch.randn(6, generator.latent_dim, generator=rng(3)))
    expected_rng = rng(3)
    labels = torch.randint(10, (6,), generator=expected_rng) if generator.conditional else None
    expected = generator(torch.randn(6, generator.latent_dim, generator=expected_rng), labels)
    assert torch.equal(generator.sample(6, generator=rng(3)), expected)  # labels first, then z: as before


def test_a_model_without_codes_refuses_them_naming_none(registry):
    generator = create_trainer(registry.models["dcgan"], (1, 28, 28), 0, hparams={"width": 4}).generator
    with pytest.raises(ValueError, match="has no latent code 'c1'; its codes: none"):
        generator.sample(2, codes={"c1": 0})


def test_a_held_code_is_honoured_and_leaves_the_other_draws_alone():
    generator = CodedGenerator()
    free = read(generator.sample(8, generator=rng(0)))
    held = read(generator.sample(8, generator=rng(0), codes={"digit": 2, "width": 3.5}))
    assert held["digit"].tolist() == [2] * 8 and torch.allclose(held["width"], torch.full((8,), 3.5))
    assert torch.equal(held["noise"], free["noise"]) and torch.equal(held["slant"], free["slant"])
    each = read(generator.sample(3, generator=rng(0), codes={"digit": torch.tensor([0, 2, 1])}))
    assert each["digit"].tolist() == [0, 2, 1]
    assert torch.equal(read(generator.sample(8, generator=rng(0)))["noise"], free["noise"])  # seeded: the same


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        (
            {"colour": 1},
            "no latent code 'colour'; its codes: digit (categorical, 3 values), slant (continuous, -1 to 1)",
        ),
        ({"digit": 3}, "code 'digit' takes the integers 0 to 2"),
        ({"digit": 1.5}, "code 'digit' takes the integers 0 to 2"),
        ({"slant": float("nan")}, "code 'slant' takes finite values"),
        ({"slant": torch.zeros(2)}, "code 'slant' needs one value or 4, got shape [2]"),
    ],
)
def test_codes_the_generator_cannot_take_are_refused(codes, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        CodedGenerator().sample(4, generator=rng(0), codes=codes)


def test_a_continuous_code_may_be_held_outside_its_range():
    assert read(CodedGenerator().sample(2, generator=rng(0), codes={"slant": -2}))["slant"].tolist() == [-2.0, -2.0]


def test_a_traversal_grid_has_one_draw_per_row_and_the_codes_values_across():
    images, row_length = traversal(CodedGenerator(), "digit", 5, seed=4)
    assert row_length == 3 and images.shape == (6, 1, 1, 5)  # 5 images asked: two whole rows of three
    grid = {name: values.view(2, 3, *values.shape[1:]) for name, values in read(images).items()}
    assert grid["digit"].tolist() == [[0, 1, 2], [0, 1, 2]]
    for name in ("noise", "slant", "width"):  # everything else: the same across a row, another draw per row
        assert torch.equal(grid[name][:, :1].expand_as(grid[name]), grid[name])
        assert not torch.equal(grid[name][0], grid[name][1])
    first_row = read(CodedGenerator().sample(2, generator=rng(4)))
    assert torch.equal(grid["noise"][:, 0], first_row["noise"])  # the rows are the prior's draws with the seed


def test_a_continuous_traversal_spans_the_range_and_holds_the_fixed_codes():
    images, row_length = traversal(CodedGenerator(), "width", 10, seed=0, fixed={"digit": 1})
    assert row_length == TRAVERSAL_STEPS and len(images) == TRAVERSAL_STEPS
    values = read(images)
    assert torch.allclose(values["width"], torch.linspace(0, 4, TRAVERSAL_STEPS), atol=1e-6)
    assert values["digit"].tolist() == [1] * TRAVERSAL_STEPS
    with pytest.raises(ValueError, match="cannot be both swept and fixed"):
        traversal(CodedGenerator(), "width", 10, seed=0, fixed={"width": 1})
    with pytest.raises(ValueError, match="no latent code 'depth'"):
        traversal(CodedGenerator(), "depth", 10, seed=0)


def test_sample_images_sweeps_a_code_and_gives_a_conditional_model_its_row_labels():
    images, row_length = sample_images(CodedGenerator(), 7, sweep="slant")
    assert row_length == TRAVERSAL_STEPS and len(images) == TRAVERSAL_STEPS  # rounded up to one whole row
    conditional = CodedGenerator(num_classes=4)
    conditional.forward = lambda z, labels=None: torch.cat([z, labels[:, None].float()], 1).view(-1, 1, 1, 6)
    images, _ = sample_images(conditional, 6, sweep="digit", labels=torch.tensor([3, 1, 0]))
    assert images.view(2, 3, 6)[..., 5].tolist() == [[3, 3, 3], [1, 1, 1]]


def build_coded(image_shape, num_classes, *, skip_fixed: bool = False, ignore: str = ""):
    generator = CodedGenerator(image_shape, skip_fixed=skip_fixed, ignore=ignore)
    return GANTrainer(generator, FlatDiscriminator(image_shape), lr=1e-3, betas=(0.5, 0.999))


SPEC = ModelSpec("coded", "gan", False, "none (a test fixture)", build_coded, tiny_hparams={"skip_fixed": False})


def test_the_conformance_kit_checks_the_priors_contract(registry):
    CHECKS["latent_codes"](SPEC, Probe((1, 8, 8), 0))
    CHECKS["latent_codes"](registry.models["dcgan"], Probe())  # no codes: refused, as it must be
    with pytest.raises(AssertionError, match="fixing code 'digit' changes how many random numbers the prior draws"):
        CHECKS["latent_codes"](dataclasses.replace(SPEC, tiny_hparams={"skip_fixed": True}), Probe((1, 8, 8), 0))
    with pytest.raises(AssertionError, match="code 'slant' at -1 and 1 gives identical samples"):
        CHECKS["latent_codes"](dataclasses.replace(SPEC, tiny_hparams={"ignore": "slant"}), Probe((1, 8, 8), 0))


def test_a_code_less_generator_that_accepts_codes_fails_the_check(registry):
    class Lenient(CodedGenerator):
        latent_codes = ()

        def sample(self, n, *, generator=None, labels=None, codes=None):
            return super().sample(n, generator=generator, labels=labels)

    def build(image_shape, num_classes, *, width: int = 1):
        return GANTrainer(Lenient(image_shape), FlatDiscriminator(image_shape), lr=1e-3, betas=(0.5, 0.999))

    spec = ModelSpec("lenient", "gan", False, "none (a test fixture)", build, tiny_hparams={"width": 1})
    with pytest.raises(AssertionError, match="a generator without latent codes accepted codes"):
        CHECKS["latent_codes"](spec, Probe((1, 8, 8), 0))


@pytest.fixture(scope="module")
def infogan_run(tmp_path_factory, tiny_mnist_root):
    """A one-step tiny InfoGAN run folder."""
    run = tmp_path_factory.mktemp("infogan") / "run"
    tiny = [f"--hparam={key}={value}" for key, value in {"noise_dim": 4, "width": 4, "hidden": 16}.items()]
    result = zoo_command("train", "infogan", *tiny, "--no-eval", dataset="mnist", steps=1, batch_size=4, out=run,
                         data_root=tiny_mnist_root)  # fmt: skip
    assert result.exit_code == 0, result.output
    return run


def test_zoo_sample_code_draws_a_traversal_grid(infogan_run, tmp_path):
    out = tmp_path / "c1.png"
    result = zoo_command("sample", infogan_run, "--code", "c1", "-n", 15, "-o", out)
    assert result.exit_code == 0, result.output
    assert "wrote 20 samples" in result.output and "columns: c1's values" in result.output
    assert read_png(out).shape[1:] == (2 + 2 * 30, 2 + 10 * 30)  # two rows of c1's ten values
    held = zoo_command("sample", infogan_run, "--code", "c2", "--code", "c1=7", "-n", 10, "-o", out)
    assert held.exit_code == 0, held.output
    assert read_png(out).shape[1:] == (2 + 30, 2 + TRAVERSAL_STEPS * 30)
    assert zoo_command("sample", infogan_run, "--code", "c3=-2", "-n", 4, "-o", out).exit_code == 0


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        (["--code", "c9"], "no latent code 'c9'; its codes: c1 (categorical, 10 values), c2 (continuous, -1 to 1)"),
        (["--code", "c1=10"], "code 'c1' takes the integers 0 to 9"),
        (["--code", "c1", "--code", "c2"], "sweeps one code at a time"),
        (["--code", "c1=x"], "'x' is not a number"),
    ],
)
def test_zoo_sample_refuses_codes_in_one_line(infogan_run, tmp_path, codes, message):
    assert_one_line_error(zoo_command("sample", infogan_run, *codes, "-o", tmp_path / "g.png"), message)


def test_zoo_sample_code_on_a_model_without_codes_names_none(tmp_path, tiny_mnist_root):
    run = tmp_path / "run"
    trained = zoo_command("train", "dcgan", "--hparam=width=4", "--no-eval", dataset="mnist", steps=1, batch_size=4,
                          out=run, data_root=tiny_mnist_root)  # fmt: skip
    assert trained.exit_code == 0, trained.output
    result = zoo_command("sample", run, "--code", "c1", "-o", tmp_path / "g.png")
    assert_one_line_error(result, "the generator has no latent code 'c1'; its codes: none")
    assert len(result.stderr.strip().splitlines()) == 1
