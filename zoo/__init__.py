"""zoo: a plugin-based zoo of generative image models with a benchmark harness.

What a plugin author imports (see CONTRIBUTING.md)::

    from zoo import Generator, Discriminator, Trainer, Batch, ImageShape, LatentCode, ModelSpec, hookimpl
    from zoo import LogUniform, Uniform, IntRange, Choice, TupleOf   # a model's search space
    from zoo.gan import GANTrainer            # the standard adversarial step, losses as arguments
    from zoo.layers import DCGANGenerator     # shared networks and conv stacks

and what an analysis script uses: :func:`create_trainer` (build any registered model) and :func:`load_run`
(a finished ``zoo train`` run's generator and config).

Each name is imported on first use (:mod:`zoo.lazy`): ``import zoo`` alone, and so ``zoo --help``, imports no torch,
and the contracts a plugin imports do not bring in the data readers and the training loop behind ``create_trainer``
and ``load_run``.
"""

from zoo.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "zoo.factory": ("create_trainer",),
        "zoo.hookspecs": ("hookimpl",),
        "zoo.interfaces": (
            "Batch",
            "DatasetSpec",
            "Discriminator",
            "ExtractorSpec",
            "Generator",
            "ImageShape",
            "ModelSpec",
            "Trainer",
        ),
        "zoo.latent": ("LatentCode",),
        "zoo.runs": ("load_run",),
        "zoo.search_space": ("Choice", "IntRange", "LogUniform", "TupleOf", "Uniform"),
    },
)
__version__ = "0.1.0"
