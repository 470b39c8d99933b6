"""Conditional DCGAN: Mirza & Osindero conditioning in G, projection discriminator in D.

* G (Mirza & Osindero 2014, "Conditional Generative Adversarial Nets", arXiv:1411.1784): the class label is fed
  to the generator together with the noise. A learned label embedding ``nn.Embedding(num_classes, embed_dim)``
  is concatenated with ``z`` and decoded by the DCGAN generator network (:func:`zoo.layers.conv_decoder`):
  ``(z [N, latent_dim], labels [N]) -> [N, C, H, W]`` in ``[-1, 1]``.
* D (Miyato & Koyama 2018, "cGANs with Projection Discriminator", arXiv:1802.05637): with DCGAN features
  ``phi(x) = conv_features(x)`` (``[N, F]``), the logit is ``psi(phi(x)) + <embed(y), phi(x)>`` where ``psi`` is
  linear and ``embed = nn.Embedding(num_classes, F)``: ``(images, labels [N]) -> [N]``.

Trained by :class:`zoo.gan.GANTrainer` (non-saturating G loss; the batch labels condition D on real images and
G and D on fakes). Adam(lr 2e-4, betas (0.5, 0.999)), DCGAN initialisation; D's class embedding is also
initialised from N(0, 0.02) so that the projection term starts as small as the linear term. Any ``H`` and
``W`` that are multiples of 4.

Deviations from the papers: Mirza & Osindero used fully connected networks with one-hot labels (and dropout);
here the label goes through a learned embedding into a DCGAN generator. Miyato & Koyama used a ResNet
discriminator with spectral normalisation and the hinge loss; here the projection sits on the small DCGAN
discriminator (with its BatchNorm) and the loss is the standard GAN cross-entropy.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo import Discriminator, Generator
from zoo.gan import GANTrainer
from zoo.interfaces import ImageShape
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


class ProjectionDiscriminator(Discriminator):
    """``(images [N, C, H, W], labels [N])`` -> logits ``[N]`` = ``linear(phi(x)) + sum(embed(y) * phi(x))``."""

    def __init__(self, image_shape: ImageShape, num_classes: int, width: int):
        super().__init__()
        self.features, num_features = conv_features(tuple(image_shape), width, batchnorm=True)
        self.linear = nn.Linear(num_features, 1)
        self.embed = nn.Embedding(num_classes, num_features)
        self.apply(dcgan_init)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        phi = self.features(images)
        projection = (self.embed(_require_labels(labels)) * phi).sum(dim=1)
        return self.linear(phi).squeeze(1) + projection


def build(image_shape: ImageShape, num_classes: int, hparams: dict[str, Any]) -> GANTrainer:
    """Conditional DCGAN trainer; ``num_classes`` must be positive.

    Hyperparameters: ``latent_dim``, ``width`` (G and D), ``embed_dim`` (G's label embedding), ``lr``, ``betas``.
    """
    if num_classes < 1:
        raise ValueError(
            "cgan needs a dataset with class labels (num_classes > 0); pick a labelled dataset or an "
            "unconditional model such as dcgan"
        )
    width = int(hparams["width"])
    generator = ConditionalGenerator(
        image_shape, num_classes, int(hparams["latent_dim"]), width, int(hparams["embed_dim"])
    )
    discriminator = ProjectionDiscriminator(image_shape, num_classes, width)
    betas = (float(hparams["betas"][0]), float(hparams["betas"][1]))
    return GANTrainer(generator, discriminator, lr=float(hparams["lr"]), betas=betas)
