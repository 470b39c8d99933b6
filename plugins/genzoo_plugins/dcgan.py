"""DCGAN: Radford, Metz & Chintala 2015, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks", arXiv:1511.06434.

The paper's guidelines, all kept: strided (transposed) convolutions instead of pooling, BatchNorm in G and D
(never on D's input layer nor G's output layer), ReLU in G with a tanh output, LeakyReLU(0.2) in D, weights
initialised from N(0, 0.02), Adam with lr 2e-4 and beta1 0.5, and the standard adversarial step.

Networks: :class:`zoo.layers.DCGANGenerator` and :class:`zoo.layers.DCGANDiscriminator` (shared with WGAN-GP and
third-party plugins, so they live in :mod:`zoo.layers`; every layer at the default sizes is listed under "Layer
shapes" below). With ``n`` stride-2 layers (:func:`zoo.layers.stride2_layers`):

* G: ``z [N, latent_dim]`` -> linear projection to ``width * 2**(n-1)`` maps of ``H/2**n x W/2**n`` -> ``n``
  transposed convs (4x4, stride 2, padding 1), each doubling the size and halving the channels (down to
  ``width``, then ``C``) -> tanh: ``[N, C, H, W]`` in ``[-1, 1]``. BatchNorm and ReLU after every layer but the
  last; the linear and the BatchNormed convs have no bias.
* D: images ``[N, C, H, W]`` -> ``n`` convs (4x4, stride 2, padding 1) of ``width`` channels doubling with each,
  LeakyReLU(0.2) after each, BatchNorm on all but the first -> flatten -> linear: ``[N]`` logits.

Depth follows the image size: from 64x64 up the paper's depth (at 64x64 four stride-2 layers; the paper's
1024 -> 512 -> 256 -> 128 channels are ``width=128``).

Training step (:class:`zoo.gan.GANTrainer`; the losses with logits, ``D(x) = sigmoid(logit)``), on real images
``x`` ``[N, C, H, W]``:

1. ``fake = G(z)``, fresh ``z ~ N(0, I)`` ``[N, latent_dim]``.
2. D update: ``loss_d = -mean log D(x) - mean log(1 - D(fake))`` (:func:`zoo.gan.discriminator_loss`) from two
   forward passes, ``D(x)`` and ``D(fake.detach())`` (BatchNorm normalises the real and the fake batch
   separately); one Adam step on D.
3. G update on the same fakes, through the updated D, with D frozen (``requires_grad_(False)`` on D's parameters
   for this update: gradients reach G through D, none is computed for D's weights): ``loss_g = -mean log
   D(fake)`` (non-saturating, :func:`zoo.gan.non_saturating_generator_loss`); one Adam step on G.

Reports ``loss_d``, ``loss_g`` and the mean logits ``score_real`` and ``score_fake``.

Deviation from the paper: below 64 pixels a side (28x28, 32x32) the networks have two stride-2 layers of
``2*width`` and ``width`` channels, the usual small-image scaling (pytorch/examples' DCGAN has no smaller
variant). At 3x32x32 (CIFAR-10) the layers are those of 1x28x28 below, on 8x8 -> 16x16 -> 32x32 maps.

Layer shapes at the defaults (``latent_dim=100``, ``width=64``), per image (the batch dimension left out). A row is
one module or a run of consecutive ones, named as in the network's state dict (``net.4-6`` is ``net.4``,
``net.5``, ``net.6``), their classes, and the shape of the output; ``tests/test_model_shapes.py`` checks every
row against the built network.

G at 1x28x28, 771,969 parameters::

    net.0-2  Linear BatchNorm1d ReLU           6272
    net.3    Unflatten                         128x7x7
    net.4-6  ConvTranspose2d BatchNorm2d ReLU  64x14x14
    net.7-8  ConvTranspose2d Tanh              1x28x28

D at 1x28x28, 138,689 parameters::

    features.0-1  Conv2d LeakyReLU              64x14x14
    features.2-4  Conv2d BatchNorm2d LeakyReLU  128x7x7
    features.5    Flatten                       6272
    head          Linear                        1

G at 3x64x64, 3,592,067 parameters::

    net.0-2    Linear BatchNorm1d ReLU           8192
    net.3      Unflatten                         512x4x4
    net.4-6    ConvTranspose2d BatchNorm2d ReLU  256x8x8
    net.7-9    ConvTranspose2d BatchNorm2d ReLU  128x16x16
    net.10-12  ConvTranspose2d BatchNorm2d ReLU  64x32x32
    net.13-14  ConvTranspose2d Tanh              3x64x64

D at 3x64x64, 2,765,633 parameters::

    features.0-1   Conv2d LeakyReLU              64x32x32
    features.2-4   Conv2d BatchNorm2d LeakyReLU  128x16x16
    features.5-7   Conv2d BatchNorm2d LeakyReLU  256x8x8
    features.8-10  Conv2d BatchNorm2d LeakyReLU  512x4x4
    features.11    Flatten                       8192
    head           Linear                        1
"""

from __future__ import annotations

from genzoo_plugins.search_ranges import LEARNING_RATE, adam_betas, around
from zoo import ImageShape, ModelSpec, hookimpl
from zoo.gan import GANTrainer
from zoo.layers import DCGANDiscriminator, DCGANGenerator


def build(
    image_shape: ImageShape,
    num_classes: int,
    *,
    latent_dim: int = 100,
    width: int = 64,
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
) -> GANTrainer:
    """DCGAN's generator and discriminator (``width`` channels at the widest conv) trained with Adam(lr, betas)."""
    generator = DCGANGenerator(image_shape, latent_dim=latent_dim, width=width)
    return GANTrainer(generator, DCGANDiscriminator(image_shape, width=width), lr=lr, betas=betas)


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="dcgan",
            family="gan",
            conditional=False,
            paper=(
                "Radford, Metz & Chintala 2015, Unsupervised Representation Learning with Deep Convolutional "
                "Generative Adversarial Networks, arXiv:1511.06434"
            ),
            factory=build,
            tiny_hparams={"latent_dim": 8, "width": 4},
            search_space={  # genzoo_plugins.search_ranges says where each range comes from
                "lr": LEARNING_RATE,
                "betas": adam_betas(0.999),  # the paper's beta2
                "latent_dim": around(100),
                "width": around(64),
            },
            description="Convolutional GAN with BatchNorm, strided convs and Adam(2e-4, 0.5)",
            license="MIT",
        )
    )
