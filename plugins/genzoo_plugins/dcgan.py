"""DCGAN: Radford, Metz & Chintala 2015, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks", arXiv:1511.06434.

The paper's guidelines, all kept: strided (transposed) convolutions instead of pooling, BatchNorm in G and D
(never on D's input layer nor G's output layer), ReLU in G with a tanh output, LeakyReLU(0.2) in D, weights
initialised from N(0, 0.02), Adam with lr 2e-4 and beta1 0.5, and the standard adversarial step
(:class:`zoo.gan.GANTrainer`, non-saturating G loss).

Depth follows the image size (:func:`zoo.layers.stride2_layers`): from 64x64 up the paper's depth (at 64x64 four
stride-2 layers; the paper's 1024 -> 512 -> 256 -> 128 channels are ``width=128``). Deviation from the paper: below
64 pixels a side (28x28, 32x32) the networks have two stride-2 layers of ``2*width`` and ``width`` channels, the
usual small-image scaling (pytorch/examples' DCGAN has no smaller variant). With ``width=64`` at 1x28x28:
G has 771,969 parameters, D 138,689 (3x32x32: 969,859 and 142,657).
"""

from __future__ import annotations

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
            description="Convolutional GAN with BatchNorm, strided convs and Adam(2e-4, 0.5)",
            license="MIT",
        )
    )
