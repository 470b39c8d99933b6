"""The WGAN-GP plugin (Gulrajani et al. 2017); trainer, penalty and factory in :mod:`zoo_wgan_gp.model`."""

from zoo import ModelSpec, hookimpl
from zoo_wgan_gp.model import build


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="wgan_gp",
            family="gan",
            conditional=False,
            paper="Gulrajani et al. 2017, Improved Training of Wasserstein GANs, arXiv:1704.00028",
            factory=build,
            hparams={
                "latent_dim": 100,
                "width": 64,
                "lr": 1e-4,
                "betas": [0.5, 0.9],
                "n_critic": 5,
                "gp_weight": 10.0,
            },
            description="Wasserstein GAN with gradient penalty: DCGAN generator, critic without BatchNorm",
            license="MIT",
        )
    )
