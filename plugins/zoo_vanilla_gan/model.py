"""The original GAN: Goodfellow et al. 2014, "Generative Adversarial Networks", arXiv:1406.2661.

Fully connected networks trained with the paper's value function by :class:`zoo.gan.GANTrainer` (one D update,
then one G update, per step; the paper's ``k = 1``).

* G: ``z [N, latent_dim]`` -> ``hidden[0]`` -> ``hidden[1]`` ... (LeakyReLU(0.2) after each) -> ``C*H*W`` -> tanh,
  reshaped to ``[N, C, H, W]`` in ``[-1, 1]``.
* D: images flattened -> ``reversed(hidden)`` (LeakyReLU(0.2) after each) -> 1 logit, ``[N]``.

Works for any image size. G loss: ``g_loss="non_saturating"`` (default) maximises ``log D(G(z))``, the
paper's own practical recommendation (Sec. 3); ``"minimax"`` minimises ``log(1 - D(G(z)))`` as in the game.

Deviations from the paper: LeakyReLU(0.2) in both networks (the paper: ReLU/sigmoid units in G, maxout units in
D); no dropout in D (the paper used it; zoo models avoid dropout); Adam(lr 2e-4, betas (0.5, 0.999)) instead
of SGD with momentum, for stable training at a fixed step budget; a tanh output for images in ``[-1, 1]``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn

from zoo import Discriminator, Generator
from zoo.gan import GANTrainer
from zoo.interfaces import ImageShape


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers between consecutive ``sizes``, LeakyReLU(0.2) between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class MLPGenerator(Generator):
    """``z [N, latent_dim]`` -> ``[N, C, H, W]`` in ``[-1, 1]``; unconditional (``labels`` is ignored)."""

    def __init__(self, image_shape: ImageShape, latent_dim: int, hidden: Sequence[int]):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.num_classes = 0
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            _mlp([latent_dim, *hidden, math.prod(self.image_shape)]),
            nn.Tanh(),
            nn.Unflatten(1, self.image_shape),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z)


class MLPDiscriminator(Discriminator):
    """``[N, C, H, W]`` -> ``[N]`` logits (``D(x) = sigmoid(logit)``); ``labels`` is ignored."""

    def __init__(self, image_shape: ImageShape, hidden: Sequence[int]):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), _mlp([math.prod(image_shape), *hidden, 1]))

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(images).squeeze(1)


def build(image_shape: ImageShape, num_classes: int, hparams: dict[str, Any]) -> GANTrainer:
    """Vanilla GAN trainer. ``num_classes`` is ignored (unconditional).

    Hyperparameters: ``latent_dim``; ``hidden`` (G's hidden widths, input to output; D uses them reversed);
    ``lr``; ``betas``; ``g_loss`` (``"non_saturating"`` or ``"minimax"``).
    """
    hidden = [int(h) for h in hparams["hidden"]]
    if not hidden or min(hidden) < 1:
        raise ValueError(f"hidden must be a non-empty list of positive widths, got {hparams['hidden']!r}")
    generator = MLPGenerator(image_shape, int(hparams["latent_dim"]), hidden)
    discriminator = MLPDiscriminator(image_shape, hidden[::-1])
    betas = (float(hparams["betas"][0]), float(hparams["betas"][1]))
    return GANTrainer(generator, discriminator, lr=float(hparams["lr"]), betas=betas, g_loss=hparams["g_loss"])
