"""Helpers for tests: writers of real on-disk formats and the source of a third-party plugin."""

from __future__ import annotations

import gzip
import struct
import textwrap
from pathlib import Path

import torch


def write_idx(path: Path, array: torch.Tensor) -> None:
    """Write a uint8 tensor as a gzip IDX file (the MNIST format)."""
    header = struct.pack(">HBB", 0, 0x08, array.dim()) + struct.pack(f">{array.dim()}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.numpy().tobytes())


TOY_PLUGIN = '''
    """A third-party plugin: a small MLP GAN built on zoo's public API only."""
    import math

    import torch
    from torch import nn

    from zoo import Discriminator, Generator, ModelSpec, hookimpl
    from zoo.gan import GANTrainer


    class ToyGenerator(Generator):
        def __init__(self, image_shape, latent_dim):
            super().__init__()
            self.latent_dim, self.num_classes, self.image_shape = latent_dim, 0, tuple(image_shape)
            self.net = nn.Sequential(nn.Linear(latent_dim, math.prod(image_shape)), nn.Tanh())

        def forward(self, z, labels=None):
            return self.net(z).view(-1, *self.image_shape)


    class ToyDiscriminator(Discriminator):
        def __init__(self, image_shape):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(image_shape), 1))

        def forward(self, images, labels=None):
            return self.net(images).squeeze(1)


    def build(image_shape, num_classes, hparams):
        return GANTrainer(
            ToyGenerator(image_shape, hparams["latent_dim"]), ToyDiscriminator(image_shape), lr=hparams["lr"], betas=(0.5, 0.999)
        )


    @hookimpl
    def register_models(register):
        register(ModelSpec(name=NAME, family="gan", conditional=False, paper="none (a test fixture)",
                           factory=build, hparams={"latent_dim": 8, "lr": 1e-3}, license="MIT"))
'''


def toy_plugin_source(model_name: str = "toy") -> str:
    """Source of a working third-party plugin module registering one model called ``model_name``."""
    return f"NAME = {model_name!r}\n" + textwrap.dedent(TOY_PLUGIN)
