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
from collections.abc import Sequence

import torch
from torch import nn

from zoo import Discriminator, Generator, ImageShape, ModelSpec, hookimpl
from zoo.gan import GENERATOR_LOSSES, GANTrainer, GeneratorLossName


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers between consecutive ``sizes``, LeakyReLU(0.2) between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
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


def build(
    image_shape: ImageShape,
    num_classes: int,
    *,
    latent_dim: int = 64,
    hidden: tuple[int, ...] = (256, 512),
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    g_loss: GeneratorLossName = "non_saturating",
) -> GANTrainer:
    """MLP G with ``hidden`` widths (input to output) and MLP D with them reversed; Adam(lr, betas) for both."""
    if not hidden or min(hidden) < 1:
        raise ValueError(f"hidden must be a non-empty list of positive widths, got {list(hidden)}")
    generator = MLPGenerator(image_shape, latent_dim, hidden)
    discriminator = MLPDiscriminator(image_shape, hidden[::-1])
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
            tiny_hparams={"latent_dim": 8, "hidden": [16, 32]},
            description="Fully connected GAN (MLP generator and discriminator), any image size",
            license="MIT",
        )
    )
