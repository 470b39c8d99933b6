"""Conditional GAN: Mirza & Osindero 2014, "Conditional Generative Adversarial Nets", arXiv:1411.1784, with the
networks of the best-known PyTorch version (eriklindernoren/PyTorch-GAN, ``implementations/cgan/cgan.py``).

The class label is an extra input of both networks, as in the paper. The networks are below in this file; their
MLP stacks come from :mod:`zoo.layers`, shared with the vanilla GAN. Every layer at the default sizes is listed
under "Layer shapes" below.

* G (:class:`ConditionalGenerator`): a learned label embedding ``nn.Embedding(num_classes, num_classes)`` is
  concatenated with ``z`` and decoded by :func:`zoo.layers.mlp_decoder` (128 -> 256 -> 512 -> 1024,
  LeakyReLU(0.2), BatchNorm on all but the first): ``(z [N, latent_dim], labels [N])`` -> ``[N, C, H, W]`` in
  ``[-1, 1]`` (tanh).
* D (:class:`ConditionalDiscriminator`): the flattened image concatenated with its own label embedding, through
  :func:`zoo.layers.mlp_features` (512 -> 512 -> 512, LeakyReLU(0.2)) and a linear head: ``(images [N, C, H, W],
  labels [N]) -> [N]`` logits.

Adam(lr 2e-4, betas (0.5, 0.999)) for both. Any image size.

Training step (:class:`zoo.gan.GANTrainer`, conditional because G is; the paper's value function, with logits,
``D(x, y) = sigmoid(logit)``), on real images ``x`` ``[N, C, H, W]`` with their labels ``y`` ``[N]``:

1. ``fake = G(z, y)``, fresh ``z ~ N(0, I)`` ``[N, latent_dim]``: the fakes get the batch's own labels.
2. D update: ``loss_d = -mean log D(x, y) - mean log(1 - D(fake, y))`` (:func:`zoo.gan.discriminator_loss`) on
   ``D(x, y)`` and ``D(fake.detach(), y)``; one Adam step on D.
3. G update on the same fakes, through the updated D, with D frozen (``requires_grad_(False)`` on D's parameters
   for this update: gradients reach G through D, none is computed for D's weights): ``loss_g = -mean log
   D(fake, y)`` (non-saturating, :func:`zoo.gan.non_saturating_generator_loss`); one Adam step on G.

Reports ``loss_d``, ``loss_g`` and the mean logits ``score_real`` and ``score_fake``.

Deviations from PyTorch-GAN, and why:

* BatchNorm with PyTorch's default ``eps=1e-5``, not ``BatchNorm1d(n, 0.8)`` (which sets eps=0.8 and all but
  disables the normalisation; the unconditional version of that network collapses, see
  :mod:`genzoo_plugins.vanilla_gan`).
* The cross-entropy GAN loss of the paper, not PyTorch-GAN's least-squares (MSE) loss.
* No dropout in D (PyTorch-GAN: 0.4 on D's 2nd and 3rd layers; the paper also used dropout): without it the
  label accuracy was higher in one-off runs (the figures, and where they come from: ``docs/models/cgan.md``).

Deviations from the paper: LeakyReLU(0.2) instead of ReLU in G and maxout units in D, BatchNorm in G, larger
layers (the paper's G: z -> 200 and y -> 1000, joined -> 1200 -> 784), a learned label embedding instead of the
one-hot vector, and Adam instead of SGD with momentum.

Why not DCGAN networks (zoo's cgan until November 2026): a conditional DCGAN step costs more than a DCGAN step,
so at the cpu profile's equal-time budget it would get fewer steps than DCGAN, and conditioning takes thousands
of steps: in one-off runs it stood at the leaderboard's 95% label-accuracy bar with no margin (those figures, and
the bench's for these MLPs: ``docs/models/cgan.md``).

Layer shapes at the defaults (``latent_dim=100``, ``hidden=(128, 256, 512, 1024)``, ``d_hidden=(512, 512, 512)``)
with 10 classes, per image (the batch dimension left out). A row is one module or a run of consecutive ones,
named as in the network's state dict (``net.3-5`` is ``net.3``, ``net.4``, ``net.5``), their classes, and the
shape of the output; ``tests/test_model_shapes.py`` checks every row against the built network. G's ``net.0``
takes ``z`` and ``embed``'s output joined (110 values), D's ``features.0`` the flattened image and ``embed``'s
output joined (794 at 1x28x28); the ``Identity`` holds the place of the BatchNorm that G's first hidden layer does
not have.

G at 1x28x28, 10 classes, 1,511,412 parameters::

    embed      Embedding                     10
    net.0-2    Linear Identity LeakyReLU     128
    net.3-5    Linear BatchNorm1d LeakyReLU  256
    net.6-8    Linear BatchNorm1d LeakyReLU  512
    net.9-11   Linear BatchNorm1d LeakyReLU  1024
    net.12-13  Linear Tanh                   784
    net.14     Unflatten                     1x28x28

D at 1x28x28, 10 classes, 932,965 parameters::

    embed         Embedding         10
    features.0-1  Linear LeakyReLU  512
    features.2-3  Linear LeakyReLU  512
    features.4-5  Linear LeakyReLU  512
    linear        Linear            1

G at 3x64x64, 10 classes, 13,303,012 parameters::

    embed      Embedding                     10
    net.0-2    Linear Identity LeakyReLU     128
    net.3-5    Linear BatchNorm1d LeakyReLU  256
    net.6-8    Linear BatchNorm1d LeakyReLU  512
    net.9-11   Linear BatchNorm1d LeakyReLU  1024
    net.12-13  Linear Tanh                   12288
    net.14     Unflatten                     3x64x64

D at 3x64x64, 10 classes, 6,823,013 parameters::

    embed         Embedding         10
    features.0-1  Linear LeakyReLU  512
    features.2-3  Linear LeakyReLU  512
    features.4-5  Linear LeakyReLU  512
    linear        Linear            1
"""

from __future__ import annotations

import math

import torch
from torch import nn

from genzoo_plugins.search_ranges import LEARNING_RATE, adam_betas, around, stack_around
from zoo import Discriminator, Generator, ImageShape, ModelSpec, hookimpl
from zoo.gan import GANTrainer
from zoo.layers import mlp_decoder, mlp_features


def _require_labels(labels: torch.Tensor | None) -> torch.Tensor:
    if labels is None:
        raise ValueError("the conditional GAN needs class labels")
    return labels


class ConditionalGenerator(Generator):
    """``(z [N, latent_dim], labels [N])`` -> ``[N, C, H, W]`` in ``[-1, 1]``: ``mlp_decoder([z, embed(labels)])``."""

    def __init__(self, image_shape: ImageShape, num_classes: int, latent_dim: int, hidden: tuple[int, ...]):
        super().__init__()
        self.num_classes = num_classes
        self.latent_dim = latent_dim
        self.image_shape = tuple(image_shape)
        self.embed = nn.Embedding(num_classes, num_classes)  # labels [N] -> [N, num_classes]
        self.net = mlp_decoder(latent_dim + num_classes, hidden, self.image_shape)  # [z, embed] -> [N, C, H, W]

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(torch.cat([z, self.embed(_require_labels(labels))], dim=1))


class ConditionalDiscriminator(Discriminator):
    """``(images [N, C, H, W], labels [N])`` -> logits ``[N]``: an MLP on the flattened image and the label's
    embedding, concatenated."""

    def __init__(self, image_shape: ImageShape, num_classes: int, hidden: tuple[int, ...]):
        super().__init__()
        self.embed = nn.Embedding(num_classes, num_classes)  # labels [N] -> [N, num_classes]
        self.features = mlp_features(math.prod(image_shape) + num_classes, hidden)  # [image, embed] -> [N, hidden[-1]]
        self.linear = nn.Linear(hidden[-1], 1)  # -> [N, 1], squeezed to [N] logits

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        joined = torch.cat([images.flatten(1), self.embed(_require_labels(labels))], dim=1)
        return self.linear(self.features(joined)).squeeze(1)


def build(
    image_shape: ImageShape,
    num_classes: int,
    *,
    latent_dim: int = 100,
    hidden: tuple[int, ...] = (128, 256, 512, 1024),
    d_hidden: tuple[int, ...] = (512, 512, 512),
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
) -> GANTrainer:
    """Conditional MLP G (``hidden`` widths) and D (``d_hidden`` widths), the standard adversarial step, Adam."""
    generator = ConditionalGenerator(image_shape, num_classes, latent_dim, hidden)
    discriminator = ConditionalDiscriminator(image_shape, num_classes, d_hidden)
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
            tiny_hparams={"latent_dim": 8, "hidden": [16, 32], "d_hidden": [32, 16]},
            search_space={  # genzoo_plugins.search_ranges says where each range comes from
                "lr": LEARNING_RATE,
                "betas": adam_betas(0.999),  # PyTorch-GAN's beta2
                "latent_dim": around(100),
                "hidden": stack_around((128, 256, 512, 1024)),
                "d_hidden": stack_around((512, 512, 512)),
            },
            description="Class-conditional MLP GAN (PyTorch-GAN's networks): the label is an input of G and D",
            license="MIT",
        )
    )
