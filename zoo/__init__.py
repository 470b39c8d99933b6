"""zoo: a plugin-based zoo of generative image models with a benchmark harness.

What a plugin author imports::

    from zoo import Generator, Discriminator, Trainer, Batch, ModelSpec, DatasetSpec, ExtractorSpec, hookimpl
"""

from zoo.hookspecs import hookimpl
from zoo.interfaces import Batch, DatasetSpec, Discriminator, ExtractorSpec, Generator, ModelSpec, Trainer

__all__ = [
    "Batch", "DatasetSpec", "Discriminator", "ExtractorSpec", "Generator", "ModelSpec", "Trainer", "hookimpl",
]  # fmt: skip
__version__ = "0.1.0"
