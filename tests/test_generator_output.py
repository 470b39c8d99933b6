"""A generator whose samples are not finite floats (NaN, Inf, uint8 pixel values) is never scored: the bench fails
its cell with the cause, and `zoo train` and `zoo score` refuse it in one line, as `zoo plugins check` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import smoke_profile, toy_plugin_source, zoo
from zoo.results import ResultStore

GARBAGE = """
    import torch
    from toy_gan import GANTrainer, ModelSpec, ToyDiscriminator, ToyGenerator, hookimpl


    class NaNWhenSampling(ToyGenerator):
        def forward(self, z, labels=None):
            images = super().forward(z, labels)
            return images if self.training else torch.full_like(images, float("nan"))


    class InfWhenSampling(ToyGenerator):
        def forward(self, z, labels=None):
            images = super().forward(z, labels)
            return images if self.training else images.index_fill(0, torch.tensor([0]), float("inf"))


    class PixelsWhenSampling(ToyGenerator):
        def forward(self, z, labels=None):
            images = super().forward(z, labels)
            return images if self.training else ((images + 1) * 127.5).round().to(torch.uint8)


    def with_generator(cls):
        def factory(image_shape, num_classes, *, latent_dim: int = 4):
            return GANTrainer(cls(image_shape, latent_dim), ToyDiscriminator(image_shape), lr=1e-3, betas=(0.5, 0.9))
        return factory


    @hookimpl
    def register_models(register):
        for name, cls in {"toy_nan": NaNWhenSampling, "toy_inf": InfWhenSampling, "toy_u8": PixelsWhenSampling}.items():
            register(ModelSpec(name=name, family="gan", conditional=False, paper="none (a test fixture)",
                               factory=with_generator(cls), license="MIT"))
"""

REFUSED = {
    "toy_nan": "the generator returned NaN or infinite values (50176 of 50176 in 64 samples)",
    "toy_inf": "the generator returned NaN or infinite values (784 of 50176 in 64 samples)",
    "toy_u8": "the generator returned torch.uint8 samples",
}


@pytest.fixture
def garbage(install_plugin) -> Path:
    return install_plugin(
        "zoo-garbage", {"garbage": "toy_garbage"}, {"toy_gan": toy_plugin_source(), "toy_garbage": GARBAGE}
    )


def test_the_bench_fails_the_cells_of_a_generator_whose_samples_are_not_finite_floats(
    garbage, tiny_mnist_root, tmp_path
):
    profile = smoke_profile(tmp_path)
    result = zoo(
        "bench", *REFUSED, profile=profile, results=tmp_path, work_dir=tmp_path / "work", data_root=tiny_mnist_root
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    store = ResultStore(tmp_path / "tiny")
    causes = {f["model"]: f["cause"] for f in store.failures()}
    assert set(causes) == set(REFUSED)
    for model, fragment in REFUSED.items():
        assert causes[model].startswith("sampling and scoring at step 10: PluginError: ") and fragment in causes[model]
    assert set(store.rows()["model"]) == {"real-data"}, "never a result, so never on a leaderboard"


@pytest.mark.parametrize("model", list(REFUSED))
def test_train_and_score_refuse_such_samples_in_one_line(garbage, tiny_mnist_root, tmp_path, model):
    profile, run = smoke_profile(tmp_path), tmp_path / "run"
    common = dict(profile=profile, work_dir=tmp_path / "work", data_root=tiny_mnist_root)
    trained = zoo("train", model, dataset="mnist", steps=2, batch_size=4, out=run, **common)
    assert trained.exit_code == 1 and "Traceback" not in trained.output
    assert REFUSED[model] in trained.stderr and len(trained.stderr.strip().splitlines()) == 1

    unscored = zoo("train", model, "--no-eval", dataset="mnist", steps=2, batch_size=4, out=tmp_path / "unscored",
                   data_root=tiny_mnist_root)  # fmt: skip
    assert unscored.exit_code == 0, unscored.output
    scored = zoo("score", tmp_path / "unscored", **common)
    assert scored.exit_code == 1 and REFUSED[model] in scored.stderr and "Traceback" not in scored.output
