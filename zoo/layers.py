"""Networks shared by the built-in architectures; third-party plugins may use them too.

The convolutional stacks follow DCGAN's recipe scaled for small images: two stride-2 (transposed)
convolutions with 4x4 kernels, so they take any ``H`` and ``W`` that are multiples of 4 (28x28 works:
7 -> 14 -> 28; 32x32: 8 -> 16 -> 32). :class:`DCGANGenerator` and :class:`DCGANDiscriminator` are DCGAN's
networks built from them (Radford et al. 2015); WGAN-GP and the VAE reuse the stacks.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.interfaces import Discriminator, Generator, ImageShape


def check_divisible_by_4(image_shape: ImageShape) -> None:
    """Raise ``ValueError`` unless height and width are positive multiples of 4."""
    _, height, width = image_shape
    if height % 4 or width % 4 or height < 4 or width < 4:
        raise ValueError(f"image height and width must be multiples of 4, got {height}x{width}")


def conv_decoder(latent_dim: int, image_shape: ImageShape, width: int, batchnorm: bool = True) -> nn.Sequential:
    """``[N, latent_dim]`` -> ``[N, C, H, W]`` in ``[-1, 1]`` (tanh).

    Linear projection to ``2*width`` maps of size ``H/4 x W/4``, then two transposed convs upsample by 2;
    BatchNorm + ReLU between layers (DCGAN), none after the output layer.
    """
    check_divisible_by_4(image_shape)
    channels, height, width_px = image_shape
    h4, w4 = height // 4, width_px // 4

    def norm(c: int, dims: int = 2) -> nn.Module:
        if not batchnorm:
            return nn.Identity()
        return nn.BatchNorm1d(c) if dims == 1 else nn.BatchNorm2d(c)

    return nn.Sequential(
        nn.Linear(latent_dim, 2 * width * h4 * w4, bias=not batchnorm),
        norm(2 * width * h4 * w4, dims=1),
        nn.ReLU(inplace=True),
        nn.Unflatten(1, (2 * width, h4, w4)),
        nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=not batchnorm),
        norm(width),
        nn.ReLU(inplace=True),
        nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1),
        nn.Tanh(),
    )


def conv_features(image_shape: ImageShape, width: int, batchnorm: bool = True) -> tuple[nn.Sequential, int]:
    """``[N, C, H, W]`` -> ``[N, F]`` features, and ``F``.

    Two stride-2 convs with LeakyReLU(0.2); BatchNorm on the second only (DCGAN: never on the input layer),
    or none at all (``batchnorm=False``, as a WGAN-GP critic requires).
    """
    check_divisible_by_4(image_shape)
    channels, height, width_px = image_shape
    features = nn.Sequential(
        nn.Conv2d(channels, width, 4, stride=2, padding=1),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=not batchnorm),
        nn.BatchNorm2d(2 * width) if batchnorm else nn.Identity(),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Flatten(),
    )
    return features, 2 * width * (height // 4) * (width_px // 4)


def dcgan_init(module: nn.Module) -> None:
    """DCGAN's initialisation: conv weights ~ N(0, 0.02), BatchNorm scale ~ N(1, 0.02), biases 0.

    Use as ``net.apply(dcgan_init)``.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(Generator):
    """``z [N, latent_dim]`` -> images ``[N, C, H, W]`` in ``[-1, 1]``; unconditional.

    :func:`conv_decoder` with BatchNorm (linear projection to ``2*width`` maps of ``H/4 x W/4``, two stride-2
    transposed convs, tanh output) and DCGAN's initialisation.
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
    """Images ``[N, C, H, W]`` -> raw scores ``[N]`` (logits for DCGAN, critic values for WGAN-GP); unconditional.

    :func:`conv_features` then a linear layer to one score, DCGAN's initialisation. ``batchnorm=True`` (DCGAN) puts
    BatchNorm on the second conv; ``batchnorm=False`` gives a WGAN-GP critic (the gradient penalty is per sample,
    which batch normalisation would invalidate).
    """

    def __init__(self, image_shape: ImageShape, width: int = 64, batchnorm: bool = True):
        super().__init__()
        self.features, num_features = conv_features(tuple(image_shape), width, batchnorm=batchnorm)
        self.head = nn.Linear(num_features, 1)
        self.apply(dcgan_init)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(images)).squeeze(1)
