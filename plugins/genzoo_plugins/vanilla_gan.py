"""The original GAN: Goodfellow et al. 2014, "Generative Adversarial Networks", arXiv:1406.2661, with the networks
of the best-known PyTorch MLP GAN (eriklindernoren/PyTorch-GAN, ``implementations/gan/gan.py``).

Fully connected networks trained with the paper's value function by :class:`zoo.gan.GANTrainer` (one D update,
then one G update, per step; the paper's ``k = 1``).

* G (:func:`zoo.layers.mlp_decoder`): ``z [N, latent_dim]`` -> 128 -> 256 -> 512 -> 1024 (LeakyReLU(0.2) after
  each, BatchNorm before it on all but the first) -> ``C*H*W`` -> tanh, reshaped to ``[N, C, H, W]`` in ``[-1, 1]``.
* D (:func:`zoo.layers.mlp_features` + linear): images flattened -> 512 -> 256 (LeakyReLU(0.2)) -> 1 logit, ``[N]``.

Works for any image size. G loss: ``g_loss="non_saturating"`` (default) maximises ``log D(G(z))``, the
paper's own practical recommendation (Sec. 3); ``"minimax"`` minimises ``log(1 - D(G(z)))`` as in the game.
Adam(lr 2e-4, betas (0.5, 0.999)), batch 64 in zoo's profiles, as PyTorch-GAN.

Deviations from PyTorch-GAN, and why:

* BatchNorm with PyTorch's default ``eps=1e-5``. PyTorch-GAN writes ``nn.BatchNorm1d(out_feat, 0.8)``, whose
  second positional argument is ``eps``, not ``momentum``: an epsilon of 0.8 against activations of variance ~1
  all but switches the normalisation off, and that network collapsed on MNIST (smallest class share 0.03% of
  10k samples after 10k steps, seed 0), as did the same network without BatchNorm (one digit only); with
  ``eps=1e-5`` every class is present (smallest share 7.6%). ``benchmarks/vanilla_gan_diagnosis.py`` makes
  these figures.
* The output is reshaped to the dataset's ``image_shape`` (PyTorch-GAN: a fixed 1x28x28 / opt.img_size).

Deviations from the paper: LeakyReLU(0.2) in both networks (the paper: ReLU/sigmoid units in G, maxout units
and dropout in D; dropout in D alone did not prevent the collapse in one-off research runs outside this
repository); BatchNorm in G (not in
the paper; what makes an MLP G cover every class at this budget); Adam instead of SGD with momentum; a tanh
output for images in ``[-1, 1]``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from zoo import Discriminator, Generator, ImageShape, ModelSpec, hookimpl
from zoo.gan import GENERATOR_LOSSES, GANTrainer, GeneratorLossName
from zoo.layers import mlp_decoder, mlp_features


class MLPGenerator(Generator):
    """``z [N, latent_dim]`` -> ``[N, C, H, W]`` in ``[-1, 1]``; unconditional (``labels`` is ignored)."""

    def __init__(self, image_shape: ImageShape, latent_dim: int, hidden: tuple[int, ...]):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.num_classes = 0
        self.latent_dim = latent_dim
        self.net = mlp_decoder(latent_dim, hidden, self.image_shape)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z)


class MLPDiscriminator(Discriminator):
    """``[N, C, H, W]`` -> ``[N]`` logits (``D(x) = sigmoid(logit)``); ``labels`` is ignored."""

    def __init__(self, image_shape: ImageShape, hidden: tuple[int, ...]):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), mlp_features(math.prod(image_shape), hidden), nn.Linear(hidden[-1], 1))

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(images).squeeze(1)


def build(
    image_shape: ImageShape,
    num_classes: int,
    *,
    latent_dim: int = 100,
    hidden: tuple[int, ...] = (128, 256, 512, 1024),
    d_hidden: tuple[int, ...] = (512, 256),
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    g_loss: GeneratorLossName = "non_saturating",
) -> GANTrainer:
    """MLP G with ``hidden`` widths and MLP D with ``d_hidden`` widths (input to output); Adam(lr, betas) for both."""
    generator = MLPGenerator(image_shape, latent_dim, hidden)
    discriminator = MLPDiscriminator(image_shape, d_hidden)
    return GANTrainer(generator, discriminator, lr=lr, betas=betas, g_loss=GENERATOR_LOSSES[g_loss])


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="vanilla_gan",
            family="gan",
            conditional=False,
            paper="Goodfellow et al. 2014, Generative Adversarial Networks, arXiv:1406.2661",
            factory=build,
            tiny_hparams={"latent_dim": 8, "hidden": [16, 32], "d_hidden": [32, 16]},
            description="Fully connected GAN (PyTorch-GAN's MLP G with BatchNorm, MLP D), any image size",
            license="MIT",
        )
    )
