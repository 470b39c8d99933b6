"""Networks shared by the built-in architectures; third-party plugins may use them too (a public API: CONTRIBUTING's
LSGAN builds on :class:`DCGANGenerator` and :class:`DCGANDiscriminator`).

Only what more than one model uses lives here; a network of one model lives in that model's plugin module, whose
docstring lists the layers and shapes of all its networks, these included. Who uses what among the built-ins:

* :class:`DCGANGenerator`, :class:`DCGANDiscriminator` (and :func:`dcgan_init`): ``dcgan`` and ``wgan_gp``;
* :func:`conv_decoder`, :func:`conv_features` (and :func:`stride2_layers`): those two, through the classes, and
  ``vae``'s encoder and decoder;
* :func:`mlp_decoder`, :func:`mlp_features`: ``vanilla_gan`` and ``cgan``.

Beside them, :func:`spectral_norm` normalises the layers of any network, for plugins (CONTRIBUTING's SNGAN-style
model puts it on DCGAN's discriminator).

The convolutional stacks follow DCGAN's recipe (Radford et al. 2015): stride-2 (transposed) convolutions with
4x4 kernels, BatchNorm, ReLU in the generator and LeakyReLU(0.2) in the discriminator. Their depth comes from the
image size (:func:`stride2_layers`):

* below 64 pixels a side, two stride-2 layers (the usual small-image scaling): 28x28 maps 7 -> 14 -> 28, 32x32
  maps 8 -> 16 -> 32;
* from 64 pixels a side, the paper's depth: stride-2 layers down to maps of 4 to 7 pixels a side, one more per
  doubling. At 64x64 that is the paper's four (4 -> 8 -> 16 -> 32 -> 64), at 128x128 five.

Channels double with each stride-2 layer away from the image: ``width`` next to the image, ``width * 2**(n-1)``
at the smallest maps (the paper's 64x64 generator is ``width=128``: 1024 -> 512 -> 256 -> 128 channels).
:class:`DCGANGenerator` and :class:`DCGANDiscriminator` are DCGAN's networks built from these stacks.

The fully connected stacks (:func:`mlp_decoder`, :func:`mlp_features`) follow the PyTorch-GAN MLP GAN
(eriklindernoren/PyTorch-GAN, ``implementations/gan/gan.py``): LeakyReLU(0.2) between layers, BatchNorm after
every hidden layer of the generator but the first. The vanilla and the conditional GAN are built from them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from zoo.interfaces import Discriminator, Generator, ImageShape

PAPER_DEPTH_FROM = 64
"""The smallest image side (pixels) that gets DCGAN's full depth; smaller images get two stride-2 layers."""


def stride2_layers(image_shape: ImageShape) -> int:
    """How many stride-2 layers the conv stacks use for ``image_shape`` ``(C, H, W)`` (see the module docstring).

    Raises ``ValueError`` unless ``H`` and ``W`` are positive multiples of ``2**n`` (4 below 64 pixels, 16 at
    64x64).
    """
    _, height, width = image_shape
    side = min(height, width)
    layers = 2 if side < PAPER_DEPTH_FROM else (side // 4).bit_length() - 1
    step = 2**layers
    if height % step or width % step or side < step:
        raise ValueError(f"image height and width must be multiples of {step} for {layers} stride-2 layers, "
                         f"got {height}x{width}")  # fmt: skip
    return layers


def conv_decoder(latent_dim: int, image_shape: ImageShape, width: int, batchnorm: bool = True) -> nn.Sequential:
    """``[N, latent_dim]`` -> ``[N, C, H, W]`` in ``[-1, 1]`` (tanh).

    With ``n`` = :func:`stride2_layers`: a linear projection to ``width * 2**(n-1)`` maps of ``H/2**n x W/2**n``,
    then ``n`` transposed convs that double the size and halve the channels (down to ``width``, then ``C``);
    BatchNorm + ReLU between layers (DCGAN), none after the output layer.
    """
    layers = stride2_layers(image_shape)
    channels, height, width_px = image_shape
    side_h, side_w, maps = height >> layers, width_px >> layers, width << (layers - 1)

    def norm(c: int, dims: int = 2) -> nn.Module:
        if not batchnorm:
            return nn.Identity()
        return nn.BatchNorm1d(c) if dims == 1 else nn.BatchNorm2d(c)

    net = [
        nn.Linear(latent_dim, maps * side_h * side_w, bias=not batchnorm),  # [N, latent_dim] -> [N, maps*h*w]
        norm(maps * side_h * side_w, dims=1),
        nn.ReLU(inplace=True),
        nn.Unflatten(1, (maps, side_h, side_w)),  # -> [N, maps, h, w], h = H/2**n, w = W/2**n
    ]
    for _ in range(layers - 1):
        net += [
            nn.ConvTranspose2d(maps, maps // 2, 4, stride=2, padding=1, bias=not batchnorm),  # -> [N, maps/2, 2h, 2w]
            norm(maps // 2),
            nn.ReLU(inplace=True),
        ]
        maps //= 2
    output = nn.ConvTranspose2d(maps, channels, 4, stride=2, padding=1)  # [N, width, H/2, W/2] -> [N, C, H, W]
    return nn.Sequential(*net, output, nn.Tanh())


def conv_features(image_shape: ImageShape, width: int, batchnorm: bool = True) -> tuple[nn.Sequential, int]:
    """``[N, C, H, W]`` -> ``[N, F]`` features, and ``F``.

    With ``n`` = :func:`stride2_layers`: ``n`` stride-2 convs with LeakyReLU(0.2), ``width`` channels doubling
    with each, so ``F = width * 2**(n-1) * H/2**n * W/2**n``; BatchNorm on every conv but the first (DCGAN: never
    on the input layer), or none at all (``batchnorm=False``, as a WGAN-GP critic requires).
    """
    layers = stride2_layers(image_shape)
    channels, height, width_px = image_shape
    net: list[nn.Module] = [
        nn.Conv2d(channels, width, 4, stride=2, padding=1),  # [N, C, H, W] -> [N, width, H/2, W/2]
        nn.LeakyReLU(0.2, inplace=True),
    ]
    maps = width
    for _ in range(layers - 1):
        net += [
            nn.Conv2d(maps, 2 * maps, 4, stride=2, padding=1, bias=not batchnorm),  # -> [N, 2*maps, h/2, w/2]
            nn.BatchNorm2d(2 * maps) if batchnorm else nn.Identity(),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        maps *= 2
    return nn.Sequential(*net, nn.Flatten()), maps * (height >> layers) * (width_px >> layers)


def mlp_decoder(in_features: int, hidden: Sequence[int], image_shape: ImageShape) -> nn.Sequential:
    """``[N, in_features]`` -> ``[N, C, H, W]`` in ``[-1, 1]`` (tanh): linear layers through the ``hidden`` widths,
    LeakyReLU(0.2) after each, BatchNorm (PyTorch's default ``eps=1e-5``) before it on all but the first, then a
    linear layer to ``C*H*W`` values and tanh. ``ValueError`` unless ``hidden`` is non-empty and positive."""
    _check_widths(hidden)
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip([in_features, *hidden[:-1]], hidden, strict=True)):
        layers += [nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out) if i else nn.Identity(), nn.LeakyReLU(0.2, True)]
    layers += [nn.Linear(hidden[-1], math.prod(image_shape)), nn.Tanh(), nn.Unflatten(1, tuple(image_shape))]
    return nn.Sequential(*layers)


def mlp_features(in_features: int, hidden: Sequence[int]) -> nn.Sequential:
    """``[N, in_features]`` -> ``[N, hidden[-1]]``: linear layers through the ``hidden`` widths, LeakyReLU(0.2)
    after each, no normalisation (a discriminator's body; its head is the caller's). ``ValueError`` unless
    ``hidden`` is non-empty and positive."""
    _check_widths(hidden)
    layers: list[nn.Module] = []
    for n_in, n_out in zip([in_features, *hidden[:-1]], hidden, strict=True):
        layers += [nn.Linear(n_in, n_out), nn.LeakyReLU(0.2, True)]
    return nn.Sequential(*layers)


def _check_widths(hidden: Sequence[int]) -> None:
    if not hidden or min(hidden) < 1:
        raise ValueError(f"hidden widths must be a non-empty list of positive integers, got {list(hidden)}")


def spectral_norm(module: nn.Module) -> nn.Module:
    """``module`` with spectral normalisation (Miyato et al. 2018, arXiv:1802.05957) on every linear and
    (transposed) convolution layer in it, in place; returns ``module``.

    Each such layer's weight is divided by its largest singular value, estimated by one power iteration per forward
    pass in training mode (``torch.nn.utils.parametrizations.spectral_norm``; a transposed convolution is
    normalised over its output channels). The state dict then holds ``<layer>.parametrizations.weight.original``
    and the iteration's ``_u``/``_v`` vectors instead of ``<layer>.weight``. Apply it after initialising the
    weights (the parametrisation keeps the original weight as it finds it)."""
    layers = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    for layer in list(module.modules()):
        if isinstance(layer, layers):
            nn.utils.parametrizations.spectral_norm(layer)
    return module


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

    :func:`conv_decoder` with BatchNorm (a linear projection, then stride-2 transposed convs, as many as
    :func:`stride2_layers` gives for the image size; tanh output) and DCGAN's initialisation.
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
    BatchNorm on every conv but the first; ``batchnorm=False`` gives a WGAN-GP critic (the gradient penalty is per
    sample, which batch normalisation would invalidate).
    """

    def __init__(self, image_shape: ImageShape, width: int = 64, batchnorm: bool = True):
        super().__init__()
        self.features, num_features = conv_features(tuple(image_shape), width, batchnorm=batchnorm)
        self.head = nn.Linear(num_features, 1)
        self.apply(dcgan_init)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(images)).squeeze(1)
