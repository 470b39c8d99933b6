"""Variational autoencoder: Kingma & Welling 2014, "Auto-Encoding Variational Bayes", arXiv:1312.6114.

* Encoder q(z|x): stride-2 convs (:func:`zoo.layers.conv_features`: two below 64x64, one more per doubling from
  64x64, BatchNorm on all but the first) and a linear
  layer to ``2 * latent_dim`` values: the mean ``mu`` and log-variance ``logvar`` of a diagonal Gaussian.
* Reparameterisation: ``z = mu + exp(0.5 * logvar) * e`` with ``e ~ N(0, I)``.
* Decoder p(x|z) (:class:`VAEDecoder`, the trainer's ``generator``): :func:`zoo.layers.conv_decoder` gives the
  mean ``m(z)`` in ``[-1, 1]`` (tanh); the likelihood is Gaussian, ``N(x; m(z), sigma_c^2)``, with one LEARNED
  log standard deviation per channel (the sigma-VAE of Rybkin, Daniilidis & Levine 2021, arXiv:2006.13202),
  which suits images in ``[-1, 1]`` and needs no hand-tuned reconstruction weight. ``log sigma`` is clamped
  below at -6 (the sigma-VAE's reference code soft-clips it there).
* Prior p(z) = N(0, I); sampling draws ``z`` from it and returns the decoder mean (no pixel noise).

Loss: the negative ELBO per image, in nats, averaged over the batch::

    neg_elbo = recon + kl
    recon    = sum over pixels of  0.5 * ((x - m) / sigma)^2 + log sigma + 0.5 * log(2 pi)
    kl       = KL(q(z|x) || N(0, I)) = 0.5 * sum over latent dims of (mu^2 + exp(logvar) - 1 - logvar)

(one reparameterised sample of z per image). The optimiser minimises ``neg_elbo / (C*H*W)`` (same gradient
direction, an Adam-friendly scale); ``train_step`` reports ``neg_elbo``, ``recon`` and ``kl`` in nats per image,
and ``sigma`` (the mean learned standard deviation). Since the likelihood is a density on continuous pixel
values, ``neg_elbo`` can be negative.

Deviations from the paper: convolutional networks (the paper used MLPs), and the learned-variance Gaussian
decoder above (the paper's image experiments used Bernoulli or Gaussian decoders with MLP-predicted
parameters); BatchNorm in both networks. Adam (lr 1e-3) instead of Adagrad.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from zoo import Batch, Generator, ImageShape, ModelSpec, Trainer, hookimpl
from zoo.layers import conv_decoder, conv_features

MIN_LOG_SIGMA = -6.0
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class VAEEncoder(nn.Module):
    """Images ``[N, C, H, W]`` -> ``(mu, logvar)``, each ``[N, latent_dim]``."""

    def __init__(self, image_shape: ImageShape, latent_dim: int, width: int):
        super().__init__()
        features, num_features = conv_features(tuple(image_shape), width, batchnorm=True)
        self.net = nn.Sequential(features, nn.Linear(num_features, 2 * latent_dim))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.net(images).chunk(2, dim=1)
        return mu, logvar


class VAEDecoder(Generator):
    """``z [N, latent_dim]`` -> the decoder mean ``[N, C, H, W]`` in ``[-1, 1]``; unconditional (labels ignored).

    Also holds the learned per-channel ``log_sigma`` ``[C]`` of the Gaussian likelihood (so the decoder's
    state dict carries it); :meth:`log_sigma_map` gives it clamped and shaped ``[1, C, 1, 1]``.
    """

    def __init__(self, image_shape: ImageShape, latent_dim: int, width: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.image_shape = tuple(image_shape)
        self.num_classes = 0
        self.net = conv_decoder(latent_dim, self.image_shape, width, batchnorm=True)
        self.log_sigma = nn.Parameter(torch.zeros(self.image_shape[0]))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z)

    def log_sigma_map(self) -> torch.Tensor:
        return self.log_sigma.clamp(min=MIN_LOG_SIGMA).view(1, -1, 1, 1)


def gaussian_neg_elbo(
    images: torch.Tensor,
    mean: torch.Tensor,
    log_sigma: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image ``(recon, kl)`` in nats, each ``[N]``; ``neg_elbo = recon + kl``.

    ``recon = -log N(images; mean, exp(log_sigma)^2)`` summed over pixels (``log_sigma`` broadcasts against
    ``images``, e.g. ``[1, C, 1, 1]``); ``kl = KL(N(mu, exp(logvar)) || N(0, I))`` summed over latent dims.
    """
    z_score = (images - mean) * torch.exp(-log_sigma)
    recon = (0.5 * z_score**2 + log_sigma + _HALF_LOG_2PI).flatten(1).sum(1)
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
    return recon, kl


class VAETrainer(Trainer):
    """One Adam step on the negative ELBO of the batch (encoder, decoder and ``log_sigma`` together)."""

    def __init__(self, encoder: VAEEncoder, decoder: VAEDecoder, *, lr: float, betas: tuple[float, float]):
        self.encoder = encoder
        self.generator = decoder
        params = [*encoder.parameters(), *decoder.parameters()]
        self.optimizer = torch.optim.Adam(params, lr=lr, betas=betas)

    def modules(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.generator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.optimizer}

    def losses(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image ``(recon, kl)`` for ``images`` with one reparameterised sample of z (noise from torch.randn)."""
        mu, logvar = self.encoder(images)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return gaussian_neg_elbo(images, self.generator(z), self.generator.log_sigma_map(), mu, logvar)

    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        recon, kl = self.losses(batch.images)
        neg_elbo = (recon + kl).mean()
        self.optimizer.zero_grad(set_to_none=True)
        (neg_elbo / batch.images[0].numel()).backward()
        self.optimizer.step()
        return {
            "neg_elbo": neg_elbo.detach(),
            "recon": recon.detach().mean(),
            "kl": kl.detach().mean(),
            "sigma": self.generator.log_sigma_map().detach().exp().mean(),
        }


def build(
    image_shape: ImageShape,
    num_classes: int,
    *,
    latent_dim: int = 16,
    width: int = 32,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
) -> VAETrainer:
    """Encoder and decoder of ``width`` channels at the widest conv, a ``latent_dim`` Gaussian latent, Adam."""
    return VAETrainer(
        VAEEncoder(image_shape, latent_dim, width), VAEDecoder(image_shape, latent_dim, width), lr=lr, betas=betas
    )


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="vae",
            family="vae",
            conditional=False,
            paper="Kingma & Welling 2014, Auto-Encoding Variational Bayes, arXiv:1312.6114",
            factory=build,
            tiny_hparams={"latent_dim": 4, "width": 4},
            description="Convolutional VAE, Gaussian decoder with a learned variance; samples are decoder means",
            license="MIT",
        )
    )
