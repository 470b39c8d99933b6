"""The original GAN plugin (Goodfellow et al. 2014); networks and factory in :mod:`zoo_vanilla_gan.model`."""

from zoo import ModelSpec, hookimpl
from zoo_vanilla_gan.model import build


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="vanilla_gan",
            family="gan",
            conditional=False,
            paper="Goodfellow et al. 2014, Generative Adversarial Networks, arXiv:1406.2661",
            factory=build,
            hparams={
                "latent_dim": 64,
                "hidden": [256, 512],
                "lr": 2e-4,
                "betas": [0.5, 0.999],
                "g_loss": "non_saturating",
            },
            description="Fully connected GAN (MLP generator and discriminator), any image size",
            license="MIT",
        )
    )
