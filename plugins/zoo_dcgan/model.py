"""DCGAN: Radford, Metz & Chintala 2015, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks", arXiv:1511.06434.

The paper's guidelines, all kept: strided (transposed) convolutions instead of pooling, BatchNorm in G and D
(never on D's input layer nor G's output layer), ReLU in G with a tanh output, LeakyReLU(0.2) in D, weights
initialised from N(0, 0.02), Adam with lr 2e-4 and beta1 0.5.

Shapes: G maps ``z [N, latent_dim]`` (latent_dim 100 as in the paper) to ``[N, C, H, W]`` in ``[-1, 1]``; D maps
``[N, C, H, W]`` to ``[N]`` logits. Any ``H`` and ``W`` that are multiples of 4 (28x28, 32x32, ...).

Deviation from the paper: the paper's 64x64 networks have four stride-2 layers (1024 -> 512 -> 256 -> 128
channels); for 28x28/32x32 images we use two stride-2 layers of ``2*width`` and ``width`` channels
(:func:`zoo.layers.conv_decoder` / :func:`zoo.layers.conv_features`), which is the usual small-image scaling.
With ``width=64`` at 1x28x28: G has 771,969 parameters, D 138,689 (3x32x32: 969,859 and 142,657).

:class:`DCGANGenerator` and :class:`DCGANDiscriminator` are reused by the WGAN-GP plugin (which, like the WGAN-GP
paper's DCGAN experiments, uses the same generator and a critic without BatchNorm).
"""

from __future__ import annotations

from typing import Any

import torch

from zoo import Discriminator, Generator
from zoo.gan import GANTrainer
from zoo.interfaces import ImageShape
from zoo.layers import conv_decoder, conv_features, dcgan_init


class DCGANGenerator(Generator):
    """``z [N, latent_dim]`` -> images ``[N, C, H, W]`` in ``[-1, 1]``; unconditional (``labels`` is ignored).

    Linear projection to ``2*width`` maps of ``H/4 x W/4``, then two stride-2 transposed convs, BatchNorm + ReLU
    in between, tanh at the output. DCGAN initialisation.
    """

    def __init__(self, image_shape: ImageShape, latent_dim: int = 100, width: int = 64):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.num_classes = 0
        self.net = conv_decoder(latent_dim, self.image_shape, width, batchnorm=True)
        self.net.apply(dcgan_init)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z)


class DCGANDiscriminator(Discriminator):
    """Images ``[N, C, H, W]`` -> raw scores ``[N]`` (logits for DCGAN, critic values for WGAN-GP).

    Two stride-2 convs with LeakyReLU(0.2), then a linear layer to one score. ``batchnorm=True`` (DCGAN) puts
    BatchNorm on the second conv; ``batchnorm=False`` gives a WGAN-GP critic (the gradient penalty is per
    sample, which batch normalisation would invalidate). ``labels`` is ignored.
    """

    def __init__(self, image_shape: ImageShape, width: int = 64, batchnorm: bool = True):
        super().__init__()
        self.features, num_features = conv_features(tuple(image_shape), width, batchnorm=batchnorm)
        self.head = torch.nn.Linear(num_features, 1)
        self.apply(dcgan_init)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(images)).squeeze(1)


def build(image_shape: ImageShape, num_classes: int, hparams: dict[str, Any]) -> GANTrainer:
    """DCGAN trainer: one D then one G update per step (non-saturating G loss), Adam for both.

    ``num_classes`` is ignored (unconditional). Hyperparameters: ``latent_dim``, ``width``, ``lr``, ``betas``.
    """
    generator = DCGANGenerator(image_shape, latent_dim=int(hparams["latent_dim"]), width=int(hparams["width"]))
    discriminator = DCGANDiscriminator(image_shape, width=int(hparams["width"]), batchnorm=True)
    betas = (float(hparams["betas"][0]), float(hparams["betas"][1]))
    return GANTrainer(generator, discriminator, lr=float(hparams["lr"]), betas=betas)
