"""The VAE plugin (Kingma & Welling 2014); networks, loss and factory in :mod:`zoo_vae.model`."""

from zoo import ModelSpec, hookimpl
from zoo_vae.model import build


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="vae",
            family="vae",
            conditional=False,
            paper="Kingma & Welling 2014, Auto-Encoding Variational Bayes, arXiv:1312.6114",
            factory=build,
            hparams={"latent_dim": 16, "width": 32, "lr": 1e-3, "betas": [0.9, 0.999]},
            description="Convolutional VAE, Gaussian decoder with a learned variance; samples are decoder means",
            license="MIT",
        )
    )
