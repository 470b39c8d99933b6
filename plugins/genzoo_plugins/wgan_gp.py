"""WGAN-GP: Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", arXiv:1704.00028.

Networks: the DCGAN generator (:class:`zoo.layers.DCGANGenerator`, BatchNorm, tanh output in ``[-1, 1]``) and the
DCGAN discriminator *without* BatchNorm as the critic (:class:`zoo.layers.DCGANDiscriminator` with
``batchnorm=False``): the penalty constrains the critic's gradient for each input independently, which batch
normalisation breaks (paper, Sec. 4). The critic outputs unbounded scores ``[N]``. Both are DCGAN's networks
(:mod:`genzoo_plugins.dcgan` describes them) and live in :mod:`zoo.layers`, shared; every layer at the default
sizes is listed under "Layer shapes" below. Deviation: the generator keeps DCGAN's BatchNorm, so WGAN-GP and DCGAN
differ only in their losses, critic normalisation and step; the authors' MNIST generator (gan_mnist.py in
igul222/improved_wgan_training) has none, and their paper's Sec. 4 removes batch normalisation from the critic only.

Training step (paper, Algorithm 1; :class:`zoo.gan.WGANGPTrainer`, a :class:`zoo.gan.GANTrainer` with
``n_critic`` and the penalty as an auxiliary critic loss), on ``n_critic`` real batches ``x`` ``[N, C, H, W]``
(zoo's loop hands the step that many, drawn from the run's seeded sampler):

1. ``n_critic`` (5) critic updates, each on its own real batch ``x``: ``fake = G(z)`` from fresh ``z ~ N(0, I)``
   without G's graph (G is not trained here); ``loss_d = mean D(fake) - mean D(x) + gp_weight * GP`` with
   ``gp_weight`` (lambda) 10 and ``GP = mean (||grad D(x_hat)||_2 - 1)^2`` at ``x_hat = eps * x + (1 - eps) *
   fake``, one ``eps ~ U[0, 1]`` per sample (:func:`zoo.gan.gradient_penalty`, its graph kept so that the penalty
   trains the critic); one Adam step on the critic.
2. One G update: a fresh ``fake = G(z)``, the critic frozen (``requires_grad_(False)`` on its parameters for this
   update: gradients reach G through it, none is computed for its weights), ``loss_g = -mean D(fake)``; one
   Adam step on G.

Adam with lr 1e-4 and betas (0.5, 0.9) for both (the paper uses beta1 = 0 or 0.5, beta2 = 0.9). Reports the means
over the critic updates of ``loss_d``, ``gp`` (before its factor), ``score_real``, ``score_fake`` and
``wasserstein`` (``mean D(x) - mean D(fake)``), and ``loss_g``. A step draws ``n_critic`` batches, so a run's
images seen are ``n_critic`` times its steps times the batch size.

Deviations from the paper: initialisation is DCGAN's N(0, 0.02); the networks' depth follows the image size
(:func:`zoo.layers.stride2_layers`; the authors' MNIST networks have three stride-2 layers with 5x5 kernels,
28 -> 14 -> 7 -> 4, and 64/128/256 channels: here DCGAN's 4x4 kernels and two layers below 64x64, so that WGAN-GP
differs from DCGAN only in its loss, critic and step).

Layer shapes at the defaults (``latent_dim=100``, ``width=64``), per image (the batch dimension left out). A row is
one module or a run of consecutive ones, named as in the network's state dict (``net.4-6`` is ``net.4``,
``net.5``, ``net.6``), their classes, and the shape of the output; ``tests/test_model_shapes.py`` checks every
row against the built network. The critic's ``Identity`` modules hold the place of DCGAN's BatchNorm.

G at 1x28x28, 771,969 parameters::

    net.0-2  Linear BatchNorm1d ReLU           6272
    net.3    Unflatten                         128x7x7
    net.4-6  ConvTranspose2d BatchNorm2d ReLU  64x14x14
    net.7-8  ConvTranspose2d Tanh              1x28x28

D at 1x28x28, 138,561 parameters::

    features.0-1  Conv2d LeakyReLU           64x14x14
    features.2-4  Conv2d Identity LeakyReLU  128x7x7
    features.5    Flatten                    6272
    head          Linear                     1

G at 3x64x64, 3,592,067 parameters::

    net.0-2    Linear BatchNorm1d ReLU           8192
    net.3      Unflatten                         512x4x4
    net.4-6    ConvTranspose2d BatchNorm2d ReLU  256x8x8
    net.7-9    ConvTranspose2d BatchNorm2d ReLU  128x16x16
    net.10-12  ConvTranspose2d BatchNorm2d ReLU  64x32x32
    net.13-14  ConvTranspose2d Tanh              3x64x64

D at 3x64x64, 2,764,737 parameters::

    features.0-1   Conv2d LeakyReLU           64x32x32
    features.2-4   Conv2d Identity LeakyReLU  128x16x16
    features.5-7   Conv2d Identity LeakyReLU  256x8x8
    features.8-10  Conv2d Identity LeakyReLU  512x4x4
    features.11    Flatten                    8192
    head           Linear                     1
"""

from __future__ import annotations

from genzoo_plugins.search_ranges import CRITIC_UPDATES, LEARNING_RATE, PENALTY_WEIGHT, adam_betas, around
from zoo import ImageShape, ModelSpec, hookimpl
from zoo.gan import WGANGPTrainer
from zoo.layers import DCGANDiscriminator, DCGANGenerator


def build(
    image_shape: ImageShape,
    num_classes: int,
    *,
    latent_dim: int = 100,
    width: int = 64,
    lr: float = 1e-4,
    betas: tuple[float, float] = (0.5, 0.9),
    n_critic: int = 5,
    gp_weight: float = 10.0,
) -> WGANGPTrainer:
    """The DCGAN generator and a BatchNorm-free critic, ``n_critic`` critic updates per step, penalty ``gp_weight``."""
    return WGANGPTrainer(
        DCGANGenerator(image_shape, latent_dim=latent_dim, width=width),
        DCGANDiscriminator(image_shape, width=width, batchnorm=False),
        lr=lr,
        betas=betas,
        n_critic=n_critic,
        gp_weight=gp_weight,
    )


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="wgan_gp",
            family="gan",
            conditional=False,
            paper="Gulrajani et al. 2017, Improved Training of Wasserstein GANs, arXiv:1704.00028",
            factory=build,
            tiny_hparams={"latent_dim": 8, "width": 4, "n_critic": 2},
            search_space={  # genzoo_plugins.search_ranges says where each range comes from
                "lr": LEARNING_RATE,
                "betas": adam_betas(0.9),  # the paper's beta2
                "n_critic": CRITIC_UPDATES,
                "gp_weight": PENALTY_WEIGHT,
                "latent_dim": around(100),
                "width": around(64),
            },
            description="Wasserstein GAN with gradient penalty: DCGAN generator, critic without BatchNorm",
            license="MIT",
        )
    )
