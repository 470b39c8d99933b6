"""The conditional GAN plugin (Mirza & Osindero 2014, on DCGAN networks); see :mod:`zoo_cgan.model`."""

from zoo import ModelSpec, hookimpl
from zoo_cgan.model import build


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="cgan",
            family="gan",
            conditional=True,
            paper="Mirza & Osindero 2014, Conditional Generative Adversarial Nets, arXiv:1411.1784",
            factory=build,
            hparams={"latent_dim": 100, "width": 64, "embed_dim": 50, "lr": 2e-4, "betas": [0.5, 0.999]},
            description="Class-conditional DCGAN: the label is an input of G (embedded) and D (one-hot maps)",
            license="MIT",
        )
    )
