"""Conditional DCGAN, conditioned as in Mirza & Osindero 2014 ("Conditional Generative Adversarial Nets",
arXiv:1411.1784): the class label is an extra input of both networks.

* G: a learned label embedding ``nn.Embedding(num_classes, embed_dim)`` is concatenated with ``z`` and decoded by
  the DCGAN generator network (:func:`zoo.layers.conv_decoder`): ``(z [N, latent_dim], labels [N])`` ->
  ``[N, C, H, W]`` in ``[-1, 1]``.
* D: the label, one-hot, is broadcast to ``num_classes`` constant feature maps and concatenated with the image
  channels; the DCGAN discriminator network (:func:`zoo.layers.conv_features` + linear) scores the result:
  ``(images [N, C, H, W], labels [N]) -> [N]`` logits.

Trained by :class:`zoo.gan.GANTrainer` (non-saturating G loss; the batch labels condition D on real images and
G and D on fakes). Adam(lr 2e-4, betas (0.5, 0.999)), DCGAN initialisation. Any ``H`` and ``W`` that are
multiples of 4.

Deviations from the paper: Mirza & Osindero used fully connected networks with one-hot labels (and dropout);
here the networks are DCGAN's, and G's label goes through a learned embedding.

Why not a projection discriminator (Miyato & Koyama 2018): on MNIST with these small DCGAN networks and the
cross-entropy loss it made G ignore ``z``, drawing one image per class, while input conditioning kept the
samples diverse at the same cost (``benchmarks/cgan_conditioning.py``; figures in ``benchmarks/README.md``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo import Discriminator, Generator, ImageShape, ModelSpec, hookimpl
from zoo.gan import GANTrainer
from zoo.layers import conv_decoder, conv_features, dcgan_init


def _require_labels(labels: torch.Tensor | None) -> torch.Tensor:
    if labels is None:
        raise ValueError("the conditional GAN needs class labels")
    return labels


class ConditionalGenerator(Generator):
    """``(z [N, latent_dim], labels [N])`` -> ``[N, C, H, W]`` in ``[-1, 1]``: ``conv_decoder([z, embed(labels)])``."""

    def __init__(self, image_shape: ImageShape, num_classes: int, latent_dim: int, width: int, embed_dim: int):
        super().__init__()
        self.num_classes = num_classes
        self.latent_dim = latent_dim
        self.image_shape = tuple(image_shape)
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.net = conv_decoder(latent_dim + embed_dim, self.image_shape, width, batchnorm=True)
        self.net.apply(dcgan_init)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(torch.cat([z, self.embed(_require_labels(labels))], dim=1))


class ConditionalDiscriminator(Discriminator):
    """``(images [N, C, H, W], labels [N])`` -> logits ``[N]``: the DCGAN discriminator on the image channels
    concatenated with ``num_classes`` one-hot label maps."""

    def __init__(self, image_shape: ImageShape, num_classes: int, width: int):
        super().__init__()
        channels, height, width_px = image_shape
        self.num_classes = num_classes
        self.features, num_features = conv_features((channels + num_classes, height, width_px), width, batchnorm=True)
        self.linear = nn.Linear(num_features, 1)
        self.apply(dcgan_init)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        n, _, height, width = images.shape
        one_hot = F.one_hot(_require_labels(labels), self.num_classes).to(images.dtype)
        maps = one_hot[:, :, None, None].expand(n, self.num_classes, height, width)
        return self.linear(self.features(torch.cat([images, maps], dim=1))).squeeze(1)


def build(
    image_shape: ImageShape,
    num_classes: int,
    *,
    latent_dim: int = 100,
    width: int = 64,
    embed_dim: int = 50,
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
) -> GANTrainer:
    """Conditional DCGAN networks (G's label embedding of ``embed_dim``), the standard adversarial step, Adam."""
    generator = ConditionalGenerator(image_shape, num_classes, latent_dim, width, embed_dim)
    discriminator = ConditionalDiscriminator(image_shape, num_classes, width)
    return GANTrainer(generator, discriminator, lr=lr, betas=betas)


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="cgan",
            family="gan",
            conditional=True,
            paper="Mirza & Osindero 2014, Conditional Generative Adversarial Nets, arXiv:1411.1784",
            factory=build,
            tiny_hparams={"latent_dim": 8, "width": 4, "embed_dim": 4},
            description="Class-conditional DCGAN: the label is an input of G (embedded) and D (one-hot maps)",
            license="MIT",
        )
    )
