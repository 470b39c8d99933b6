"""Loss definitions against independent formulas: the VAE's negative ELBO and zoo.gan's GAN losses."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from genzoo_plugins.vae import build as build_vae
from genzoo_plugins.vae import gaussian_neg_elbo
from zoo import Batch
from zoo.errors import ZooError
from zoo.gan import GENERATOR_LOSSES, discriminator_loss
from zoo.plugins import load_registry


def test_gaussian_neg_elbo_matches_hand_computation():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 2, 2, 2, generator=gen, dtype=torch.float64) * 2 - 1
    mean = torch.rand(3, 2, 2, 2, generator=gen, dtype=torch.float64) * 2 - 1
    log_sigma = torch.tensor([-1.0, 0.5], dtype=torch.float64).view(1, 2, 1, 1)
    mu = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    logvar = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    recon, kl = gaussian_neg_elbo(x, mean, log_sigma, mu, logvar)

    expected_recon = -Normal(mean, log_sigma.exp()).log_prob(x).flatten(1).sum(1)
    expected_kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(recon, expected_recon)
    torch.testing.assert_close(kl, expected_kl)
    # one pixel by hand: 0.5 * ((x - m) / sigma)^2 + log sigma + 0.5 log(2 pi)
    one = gaussian_neg_elbo(
        torch.tensor([[[[0.5]]]]),
        torch.tensor([[[[0.1]]]]),
        torch.tensor(0.0).view(1, 1, 1, 1),
        torch.zeros(1, 1),
        torch.zeros(1, 1),
    )
    assert one[0].item() == pytest.approx(0.5 * 0.4**2 + 0.5 * math.log(2 * math.pi))
    assert one[1].item() == pytest.approx(0.0)


def test_vae_step_reports_neg_elbo_in_nats_per_image():
    torch.manual_seed(0)
    trainer = build_vae((1, 8, 8), 0, latent_dim=3, width=4, lr=1e-3, betas=(0.9, 0.999))
    step = trainer.train_step(Batch(torch.rand(5, 1, 8, 8) * 2 - 1, torch.zeros(5, dtype=torch.long)))
    losses = {name: float(value) for name, value in step.items()}
    assert losses["neg_elbo"] == pytest.approx(losses["recon"] + losses["kl"], rel=1e-5)
    assert losses["kl"] >= 0
    assert "log_sigma" in trainer.modules()["decoder"].state_dict()
    assert trainer.generator.log_sigma.grad is not None  # the likelihood scale is learned


def test_gan_losses_are_binary_cross_entropy():
    gen = torch.Generator().manual_seed(0)
    real_logits, fake_logits = torch.randn(7, generator=gen) * 3, torch.randn(7, generator=gen) * 3
    bce = F.binary_cross_entropy_with_logits
    ones, zeros = torch.ones(7), torch.zeros(7)
    torch.testing.assert_close(
        discriminator_loss(real_logits, fake_logits), bce(real_logits, ones) + bce(fake_logits, zeros)
    )
    torch.testing.assert_close(GENERATOR_LOSSES["non_saturating"](fake_logits), bce(fake_logits, ones))
    torch.testing.assert_close(GENERATOR_LOSSES["minimax"](fake_logits), -bce(fake_logits, zeros))
    with pytest.raises(ZooError, match="g_loss='hinge'"):
        load_registry().models["vanilla_gan"].resolve_hparams(overrides={"g_loss": "hinge"})
