"""The WGAN-GP gradient penalty against hand computations (Gulrajani et al. 2017, arXiv:1704.00028)."""

import pytest
import torch
from torch import nn

from genzoo_plugins.wgan_gp import build
from zoo import Batch
from zoo.gan import gradient_penalty

SHAPE = (4, 2, 3, 3)  # N, C, H, W


def _pair(seed=0):
    gen = torch.Generator().manual_seed(seed)
    real = torch.rand(SHAPE, generator=gen, dtype=torch.float64) * 2 - 1
    fake = torch.rand(SHAPE, generator=gen, dtype=torch.float64) * 2 - 1
    return real, fake


class LinearCritic(nn.Module):
    """``D(x) = sum(w * x)``: its input gradient is ``w`` for every sample and every input."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def forward(self, x):
        return (self.w * x).flatten(1).sum(1)


def test_linear_critic_penalty_is_norm_of_weights_minus_one_squared():
    real, fake = _pair()
    w = torch.randn(SHAPE[1:], generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    critic = LinearCritic(w)
    penalty = gradient_penalty(critic, real, fake)
    norm = w.norm()
    assert norm.item() != pytest.approx(1.0)
    torch.testing.assert_close(penalty, (norm - 1) ** 2)
    # create_graph=True: the penalty back-propagates into the critic, d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    penalty.backward()
    torch.testing.assert_close(critic.w.grad, 2 * (norm - 1) * w / norm)


def test_nonlinear_critic_uses_one_interpolation_factor_per_sample():
    real, fake = _pair()
    eps = torch.tensor([0.0, 0.25, 0.6, 1.0], dtype=torch.float64)

    def critic(x):  # D(x) = sum(x^2), grad at x_hat = 2 * x_hat
        return (x**2).flatten(1).sum(1)

    expected = torch.stack(
        [(2 * (e * r + (1 - e) * f).norm() - 1) ** 2 for e, r, f in zip(eps.tolist(), real, fake, strict=True)]
    ).mean()
    torch.testing.assert_close(gradient_penalty(critic, real, fake, eps=eps), expected)
    torch.testing.assert_close(gradient_penalty(critic, real, fake, eps=eps.view(-1, 1, 1, 1)), expected)
    # eps = 1 puts x_hat on the real sample, eps = 0 on the fake one
    torch.testing.assert_close(
        gradient_penalty(critic, real, fake, eps=torch.ones(4, dtype=torch.float64)),
        ((2 * real.flatten(1).norm(dim=1) - 1) ** 2).mean(),
    )
    with pytest.raises(ValueError, match="one factor per sample"):
        gradient_penalty(critic, real, fake, eps=torch.rand(SHAPE, dtype=torch.float64))  # per pixel


def test_default_eps_is_drawn_per_sample_in_unit_interval():
    real, fake = _pair()
    seen = {}

    def critic(x, labels=None):
        seen["x_hat"], seen["labels"] = x.detach().clone(), labels
        return x.flatten(1).sum(1)

    labels = torch.arange(4)
    torch.manual_seed(0)
    gradient_penalty(critic, real, fake, labels=labels)
    assert seen["labels"] is labels
    ratio = (seen["x_hat"] - fake) / (real - fake)  # eps_i at every pixel of sample i
    per_sample = ratio.flatten(1)
    torch.testing.assert_close(per_sample, per_sample[:, :1].expand_as(per_sample))
    assert ((per_sample >= 0) & (per_sample <= 1)).all()
    assert per_sample[:, 0].unique().numel() == 4  # a different factor for each sample


def test_trainer_step_runs_n_critic_updates_each_on_its_own_real_batch_and_reports_losses():
    torch.manual_seed(0)
    trainer = build((1, 8, 8), 0, latent_dim=4, width=4, lr=1e-4, betas=(0.5, 0.9), n_critic=3, gp_weight=10.0)
    assert trainer.batches_per_step == 3, "the loop must hand a step one real batch per critic update"
    steps, reals = [], []
    original_step, original_update = trainer.opt_d.step, trainer.update_discriminator
    trainer.opt_d.step = lambda *a, **k: steps.append(1) or original_step(*a, **k)
    trainer.update_discriminator = lambda real, *rest: reals.append(real) or original_update(real, *rest)
    images = torch.rand(6, 1, 8, 8) * 2 - 1  # three batches of two, as the loop concatenates them
    step = trainer.train_step(Batch(images, torch.zeros(6, dtype=torch.long)))
    losses = {name: float(value) for name, value in step.items()}
    assert len(steps) == 3
    assert [real.tolist() for real in reals] == [images[:2].tolist(), images[2:4].tolist(), images[4:].tolist()]
    assert set(losses) == {"loss_d", "loss_g", "gp", "wasserstein", "score_real", "score_fake"}
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert losses["loss_d"] == pytest.approx(-losses["wasserstein"] + 10.0 * losses["gp"], rel=1e-5, abs=1e-6)
    assert losses["wasserstein"] == pytest.approx(losses["score_real"] - losses["score_fake"])
    assert all(p.requires_grad for p in trainer.critic.parameters())
    with pytest.raises(ValueError, match="does not split into 3 equal batches"):
        trainer.train_step(Batch(images[:4], torch.zeros(4, dtype=torch.long)))
