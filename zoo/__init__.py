"""zoo: a plugin-based zoo of generative image models with a benchmark harness.

What a plugin author imports (see CONTRIBUTING.md)::

    from zoo import Generator, Discriminator, Trainer, Batch, ImageShape, ModelSpec, hookimpl
    from zoo.gan import GANTrainer            # the standard adversarial step, losses as arguments
    from zoo.layers import DCGANGenerator     # shared networks and conv stacks

and what an analysis script uses: :func:`create_trainer` (build any registered model) and :func:`load_run`
(a finished ``zoo train`` run's generator and config).
"""

from zoo.factory import create_trainer
from zoo.hookspecs import hookimpl
from zoo.interfaces import (
    Batch,
    DatasetSpec,
    Discriminator,
    ExtractorSpec,
    Generator,
    ImageShape,
    ModelSpec,
    Trainer,
)
from zoo.runs import load_run

__all__ = [
    "Batch",
    "DatasetSpec",
    "Discriminator",
    "ExtractorSpec",
    "Generator",
    "ImageShape",
    "ModelSpec",
    "Trainer",
    "create_trainer",
    "hookimpl",
    "load_run",
]
__version__ = "0.1.0"
