"""The conditional GAN plugin (Mirza & Osindero 2014 + projection discriminator); see :mod:`zoo_cgan.model`."""

from zoo import ModelSpec, hookimpl
from zoo_cgan.model import build


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="cgan",
            family="gan",
            conditional=True,
            paper=(
                "Mirza & Osindero 2014 (arXiv:1411.1784); "
                "projection discriminator: Miyato & Koyama 2018 (arXiv:1802.05637)"
            ),
            factory=build,
            hparams={"latent_dim": 100, "width": 64, "embed_dim": 50, "lr": 2e-4, "betas": [0.5, 0.999]},
            description="Class-conditional DCGAN: Mirza & Osindero conditioning in G, projection discriminator in D",
            license="MIT",
        )
    )
