"""The original GAN: Goodfellow et al. 2014, "Generative Adversarial Networks", arXiv:1406.2661, with the networks
of the best-known PyTorch MLP GAN (eriklindernoren/PyTorch-GAN, ``implementations/gan/gan.py``).

Fully connected networks, below in this file; their stacks come from :mod:`zoo.layers`, shared with the
conditional GAN. Every layer at the default sizes is listed under "Layer shapes" below.

* G (:class:`MLPGenerator`, :func:`zoo.layers.mlp_decoder`): ``z [N, latent_dim]`` -> 128 -> 256 -> 512 -> 1024
  (LeakyReLU(0.2) after each, BatchNorm before it on all but the first) -> ``C*H*W`` -> tanh, reshaped to
  ``[N, C, H, W]`` in ``[-1, 1]``.
* D (:class:`MLPDiscriminator`, :func:`zoo.layers.mlp_features` + linear): images flattened -> 512 -> 256
  (LeakyReLU(0.2) after each) -> 1 logit, ``[N]``.

Works for any image size. Adam(lr 2e-4, betas (0.5, 0.999)) for both, batch 64 in zoo's profiles, as
PyTorch-GAN.

Training step (:class:`zoo.gan.GANTrainer`: one D update, then one G update, the paper's ``k = 1``; the losses
with logits, ``D(x) = sigmoid(logit)``), on real images ``x`` ``[N, C, H, W]``:

1. ``fake = G(z)``, fresh ``z ~ N(0, I)`` ``[N, latent_dim]``.
2. D update: ``loss_d = -mean log D(x) - mean log(1 - D(fake))`` (:func:`zoo.gan.discriminator_loss`) on ``D(x)``
   and ``D(fake.detach())``; one Adam step on D.
3. G update on the same fakes, through the updated D, with D frozen (``requires_grad_(False)`` on D's parameters
   for this update: gradients reach G through D, none is computed for D's weights); one Adam step on G. Its loss
   is ``g_loss``: ``"non_saturating"`` (default) minimises ``-mean log D(fake)``, the paper's own practical
   recommendation (Sec. 3); ``"minimax"`` minimises ``mean log(1 - D(fake))``, the game as written.

Reports ``loss_d``, ``loss_g`` and the mean logits ``score_real`` and ``score_fake``.

Deviations from PyTorch-GAN, and why:

* BatchNorm with PyTorch's default ``eps=1e-5``. PyTorch-GAN writes ``nn.BatchNorm1d(out_feat, 0.8)``, whose
  second positional argument is ``eps``, not ``momentum``: an epsilon of 0.8 against activations of variance ~1
  all but switches the normalisation off, and that network collapsed on MNIST (as did the same network without
  BatchNorm) where this one draws every class (the figures, and the command that makes them:
  ``docs/models/vanilla_gan.md``).
* The output is reshaped to the dataset's ``image_shape`` (PyTorch-GAN: a fixed 1x28x28 / opt.img_size).

Deviations from the paper: LeakyReLU(0.2) in both networks (the paper: ReLU/sigmoid units in G, maxout units
and dropout in D); BatchNorm in G (not in the paper; what makes an MLP G cover every class at this budget, see
above); Adam instead of SGD with momentum; a tanh output for images in ``[-1, 1]``.

Layer shapes at the defaults (``latent_dim=100``, ``hidden=(128, 256, 512, 1024)``, ``d_hidden=(512, 256)``), per
image (the batch dimension left out). A row is one module or a run of consecutive ones, named as in the network's
state dict (``net.3-5`` is ``net.3``, ``net.4``, ``net.5``), their classes, and the shape of the output;
``tests/test_model_shapes.py`` checks every row against the built network. The ``Identity`` holds the place of
the BatchNorm that the first hidden layer does not have.

G at 1x28x28, 1,510,032 parameters::

    net.0-2    Linear Identity LeakyReLU     128
    net.3-5    Linear BatchNorm1d LeakyReLU  256
    net.6-8    Linear BatchNorm1d LeakyReLU  512
    net.9-11   Linear BatchNorm1d LeakyReLU  1024
    net.12-13  Linear Tanh                   784
    net.14     Unflatten                     1x28x28

D at 1x28x28, 533,505 parameters::

    net.0      Flatten           784
    net.1.0-1  Linear LeakyReLU  512
    net.1.2-3  Linear LeakyReLU  256
    net.2      Linear            1

G at 3x64x64, 13,301,632 parameters::

    net.0-2    Linear Identity LeakyReLU     128
    net.3-5    Linear BatchNorm1d LeakyReLU  256
    net.6-8    Linear BatchNorm1d LeakyReLU  512
    net.9-11   Linear BatchNorm1d LeakyReLU  1024
    net.12-13  Linear Tanh                   12288
    net.14     Unflatten                     3x64x64

D at 3x64x64, 6,423,553 parameters::

    net.0      Flatten           12288
    net.1.0-1  Linear LeakyReLU  512
    net.1.2-3  Linear LeakyReLU  256
    net.2      Linear            1
"""

from __future__ import annotations

import math

import torch
from torch import nn

from genzoo_plugins.search_ranges import LEARNING_RATE, adam_betas, around, stack_around
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
        self.net = mlp_decoder(latent_dim, hidden, self.image_shape)  # z [N, latent_dim] -> [N, C, H, W]

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z)


class MLPDiscriminator(Discriminator):
    """``[N, C, H, W]`` -> ``[N]`` logits (``D(x) = sigmoid(logit)``); ``labels`` is ignored."""

    def __init__(self, image_shape: ImageShape, hidden: tuple[int, ...]):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),  # [N, C, H, W] -> [N, C*H*W]
            mlp_features(math.prod(image_shape), hidden),  # -> [N, hidden[-1]]
            nn.Linear(hidden[-1], 1),  # -> [N, 1], squeezed to [N] logits
        )

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
            search_space={  # genzoo_plugins.search_ranges says where each range comes from
                "lr": LEARNING_RATE,
                "betas": adam_betas(0.999),  # PyTorch-GAN's beta2
                "latent_dim": around(100),
                "hidden": stack_around((128, 256, 512, 1024)),
                "d_hidden": stack_around((512, 256)),
            },
            description="Fully connected GAN (PyTorch-GAN's MLP G with BatchNorm, MLP D), any image size",
            license="MIT",
        )
    )
