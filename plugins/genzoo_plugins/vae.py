"""Variational autoencoder: Kingma & Welling 2014, "Auto-Encoding Variational Bayes", arXiv:1312.6114.

The networks are below in this file (:class:`VAEEncoder`, :class:`VAEDecoder`); their conv stacks are DCGAN's, from
:mod:`zoo.layers` (4x4 kernels, stride 2, padding 1; two stride-2 layers below 64x64, one more per doubling from
64x64), with PyTorch's default initialisation. Every layer at the default sizes is listed under "Layer shapes"
below.

* Encoder q(z|x) (:class:`VAEEncoder`): stride-2 convs of ``width`` channels doubling with each, LeakyReLU(0.2)
  after each, BatchNorm on all but the first (:func:`zoo.layers.conv_features`), flattened, and a linear layer to
  ``2 * latent_dim`` values: the mean ``mu`` and log-variance ``logvar`` of a diagonal Gaussian.
* Reparameterisation: ``z = mu + exp(0.5 * logvar) * e`` with ``e ~ N(0, I)``.
* Decoder p(x|z) (:class:`VAEDecoder`, the trainer's ``generator``): :func:`zoo.layers.conv_decoder` (a linear
  projection, then stride-2 transposed convs halving the channels down to ``width`` and then ``C``, BatchNorm and
  ReLU between layers) gives the mean ``m(z)`` in ``[-1, 1]`` (tanh); the likelihood is Gaussian,
  ``N(x; m(z), sigma_c^2)``, with one LEARNED log standard deviation per channel (the sigma-VAE of Rybkin,
  Daniilidis & Levine 2021, arXiv:2006.13202), which suits images in ``[-1, 1]`` and needs no hand-tuned
  reconstruction weight. ``log sigma`` is clamped below at -6 (the sigma-VAE's reference code soft-clips it
  there).
* Prior p(z) = N(0, I); sampling draws ``z`` from it and returns the decoder mean (no pixel noise).

Loss: the negative ELBO per image, in nats, averaged over the batch::

    neg_elbo = recon + kl
    recon    = sum over pixels of  0.5 * ((x - m) / sigma)^2 + log sigma + 0.5 * log(2 pi)
    kl       = KL(q(z|x) || N(0, I)) = 0.5 * sum over latent dims of (mu^2 + exp(logvar) - 1 - logvar)

(one reparameterised sample of z per image). Training step (:class:`VAETrainer`): encode the batch, draw ``z``,
decode, and one Adam step on ``neg_elbo / (C*H*W)`` (same gradient direction, an Adam-friendly scale) for the
encoder, the decoder and ``log sigma`` together; nothing is frozen. ``train_step`` reports ``neg_elbo``,
``recon`` and ``kl`` in nats per image, and ``sigma`` (the mean learned standard deviation). Since the likelihood
is a density on continuous pixel values, ``neg_elbo`` can be negative.

Deviations from the paper: convolutional networks (the paper used MLPs), and the learned-variance Gaussian
decoder above (the paper's image experiments used Bernoulli or Gaussian decoders with MLP-predicted
parameters); BatchNorm in both networks. Adam (lr 1e-3) instead of Adagrad.

Layer shapes at the defaults (``latent_dim=16``, ``width=32``), per image (the batch dimension left out). A row is
one module or a run of consecutive ones, named as in the network's state dict (``net.0.2-4`` is ``net.0.2``,
``net.0.3``, ``net.0.4``), their classes, and the shape of the output; ``tests/test_model_shapes.py`` checks every
row against the built network. The encoder's last row holds ``mu`` and ``logvar``, 16 values each; the decoder's
parameter count includes ``log_sigma``.

encoder at 1x28x28, 133,824 parameters::

    net.0.0-1  Conv2d LeakyReLU              32x14x14
    net.0.2-4  Conv2d BatchNorm2d LeakyReLU  64x7x7
    net.0.5    Flatten                       3136
    net.1      Linear                        32

decoder at 1x28x28, 89,794 parameters::

    net.0-2  Linear BatchNorm1d ReLU           3136
    net.3    Unflatten                         64x7x7
    net.4-6  ConvTranspose2d BatchNorm2d ReLU  32x14x14
    net.7-8  ConvTranspose2d Tanh              1x28x28

encoder at 3x64x64, 821,696 parameters::

    net.0.0-1   Conv2d LeakyReLU              32x32x32
    net.0.2-4   Conv2d BatchNorm2d LeakyReLU  64x16x16
    net.0.5-7   Conv2d BatchNorm2d LeakyReLU  128x8x8
    net.0.8-10  Conv2d BatchNorm2d LeakyReLU  256x4x4
    net.0.11    Flatten                       4096
    net.1       Linear                        32

decoder at 3x64x64, 763,846 parameters::

    net.0-2    Linear BatchNorm1d ReLU           4096
    net.3      Unflatten                         256x4x4
    net.4-6    ConvTranspose2d BatchNorm2d ReLU  128x8x8
    net.7-9    ConvTranspose2d BatchNorm2d ReLU  64x16x16
    net.10-12  ConvTranspose2d BatchNorm2d ReLU  32x32x32
    net.13-14  ConvTranspose2d Tanh              3x64x64
"""

from __future__ import annotations

import math

import torch
from torch import nn

from genzoo_plugins.search_ranges import LEARNING_RATE
from zoo import Batch, Choice, Generator, ImageShape, ModelSpec, Trainer, hookimpl
from zoo.layers import conv_decoder, conv_features

MIN_LOG_SIGMA = -6.0
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class VAEEncoder(nn.Module):
    """Images ``[N, C, H, W]`` -> ``(mu, logvar)``, each ``[N, latent_dim]``."""

    def __init__(self, image_shape: ImageShape, latent_dim: int, width: int):
        super().__init__()
        features, num_features = conv_features(tuple(image_shape), width, batchnorm=True)  # -> [N, num_features]
        self.net = nn.Sequential(features, nn.Linear(num_features, 2 * latent_dim))  # -> [N, 2 * latent_dim]

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
        self.net = conv_decoder(latent_dim, self.image_shape, width, batchnorm=True)  # z -> [N, C, H, W]
        self.log_sigma = nn.Parameter(torch.zeros(self.image_shape[0]))  # [C]

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
            search_space={
                "lr": LEARNING_RATE,  # Lucic et al.'s wide range, which they searched for their VAE too
                "latent_dim": Choice([3, 5, 10, 20, 200]),  # Kingma & Welling's latent sizes on MNIST (their Fig. 2)
            },
            description="Convolutional VAE, Gaussian decoder with a learned variance; samples are decoder means",
            license="MIT",
        )
    )
