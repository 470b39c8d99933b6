"""The DCGAN plugin (Radford et al. 2015); the networks and factory are in :mod:`zoo_dcgan.model`."""

from zoo import ModelSpec, hookimpl
from zoo_dcgan.model import build


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
            hparams={"latent_dim": 100, "width": 64, "lr": 2e-4, "betas": [0.5, 0.999]},
            description="Convolutional GAN with BatchNorm, strided convs and Adam(2e-4, 0.5)",
            license="MIT",
        )
    )
