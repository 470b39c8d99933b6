"""InfoGAN, built in: its prior (named codes through ``Generator.prior``), its networks and its training step."""

from __future__ import annotations

import math

import pytest
import torch

from genzoo_plugins.infogan import InfoGANTrainer
from zoo import create_trainer
from zoo.conformance import Probe, build, random_data
from zoo.training import train

PROBE = Probe((1, 28, 28), 0)


@pytest.fixture
def trainer(registry) -> InfoGANTrainer:
    return build(registry.models["infogan"], PROBE)


def test_the_paper_mnist_setup_is_the_default(registry):
    spec = registry.models["infogan"]
    assert not spec.conditional and spec.family == "gan"
    hparams = spec.hparams
    assert (hparams["noise_dim"], hparams["categories"], hparams["continuous_codes"]) == (62, 10, 2)
    assert (hparams["lr_g"], hparams["lr_d"], hparams["betas"][0]) == (1e-3, 2e-4, 0.5)
    generator = create_trainer(spec, (1, 28, 28), 0).generator
    assert generator.latent_dim == 74
    assert [(c.name, c.kind, c.values, c.low, c.high) for c in generator.latent_codes] == [
        ("c1", "categorical", 10, -1.0, 1.0),
        ("c2", "continuous", 0, -1.0, 1.0),
        ("c3", "continuous", 0, -1.0, 1.0),
    ]


def test_the_prior_is_uniform_noise_a_one_hot_code_and_uniform_codes(trainer):
    generator = trainer.generator
    z = generator.prior(500, generator=torch.Generator().manual_seed(0))
    noise, one_hot, continuous = z[:, :4], z[:, 4:14], z[:, 14:]
    assert z.shape == (500, 4 + 10 + 2)
    assert noise.min() >= -1 and noise.max() <= 1 and noise.min() < -0.9 and noise.max() > 0.9  # uniform, not normal
    assert torch.equal(one_hot.sum(1), torch.ones(500)) and set(one_hot.unique().tolist()) == {0.0, 1.0}
    assert (one_hot.sum(0) > 25).all()  # every value of c1 drawn
    assert continuous.min() >= -1 and continuous.max() <= 1
    category, codes = generator.codes_of(z)
    assert torch.equal(category, one_hot.argmax(1)) and torch.equal(codes, continuous)


def test_held_codes_overwrite_the_draws_and_keep_the_rest(trainer):
    generator = trainer.generator
    free = generator.prior(6, generator=torch.Generator().manual_seed(1))
    held = generator.prior(
        6, generator=torch.Generator().manual_seed(1), codes={"c1": torch.full((6,), 7), "c3": torch.full((6,), -2.0)}
    )
    category, continuous = generator.codes_of(held)
    assert category.tolist() == [7] * 6 and continuous[:, 1].tolist() == [-2.0] * 6
    assert torch.equal(held[:, :4], free[:, :4]) and torch.equal(continuous[:, 0], generator.codes_of(free)[1][:, 0])


def test_q_shares_ds_body_and_is_trained_by_ds_optimiser(trainer):
    discriminator, recognition = trainer.discriminator, trainer.recognition
    body = {id(p) for p in discriminator.features.parameters()}
    assert not body & {id(p) for p in recognition.parameters()}  # Q's parameters are its head's only
    assert all(not key.startswith("features") for key in recognition.state_dict())
    in_d = {id(p) for group in trainer.opt_d.param_groups for p in group["params"]}
    assert {id(p) for p in recognition.parameters()} <= in_d and body <= in_d
    in_g = {id(p) for group in trainer.opt_g.param_groups for p in group["params"]}
    assert in_g == {id(p) for p in trainer.generator.parameters()}
    assert (trainer.opt_g.defaults["lr"], trainer.opt_d.defaults["lr"]) == (1e-3, 2e-4)
    images = torch.rand(3, *PROBE.image_shape) * 2 - 1
    logits, means = recognition(images)  # Q(x) runs D's body, then its head
    discriminator.eval(), recognition.eval()
    assert torch.equal(torch.cat(recognition(images), 1), recognition.net(discriminator.features(images)))
    assert logits.shape == (3, 10) and means.shape == (3, 2)


def test_a_few_steps_report_the_information_terms_and_train_q(trainer):
    data = random_data(PROBE, n=64)
    before = [p.detach().clone() for p in trainer.recognition.parameters()]
    result = train(trainer, data, steps=5, batch_size=16, seed=0, progress=False, log_every=1)
    assert set(result.history[-1]) >= {"loss_d", "loss_g", "score_real", "score_fake", "info_cat", "info_cont"}
    assert all(math.isfinite(v) for record in result.history for k, v in record.items() if k != "step")
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.recognition.parameters(), strict=True))


def test_the_information_term_trains_q_and_reaches_g(registry):
    """One step with the lambdas at 0 leaves Q as it was (no term, no gradient) and moves G otherwise than the
    paper's lambdas do (the term back-propagates through D's body into G)."""
    spec, batch = registry.models["infogan"], random_data(PROBE).sample(8, torch.Generator().manual_seed(0))

    def one_step(**hparams: float) -> tuple[InfoGANTrainer, list[torch.Tensor]]:
        trainer = build(spec, Probe(PROBE.image_shape, 0, hparams=hparams))
        q_before = [p.detach().clone() for p in trainer.recognition.parameters()]
        torch.manual_seed(0)
        trainer.train_step(batch)
        return trainer, q_before

    without, q_before = one_step(lambda_cat=0.0, lambda_cont=0.0)
    assert all(torch.equal(a, b) for a, b in zip(q_before, without.recognition.parameters(), strict=True))
    with_term, q_before = one_step()
    assert any(not torch.equal(a, b) for a, b in zip(q_before, with_term.recognition.parameters(), strict=True))
    moved = zip(without.generator.parameters(), with_term.generator.parameters(), strict=True)
    assert any(not torch.equal(a, b) for a, b in moved)
