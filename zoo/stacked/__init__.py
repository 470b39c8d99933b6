"""Seeds stacked into one training process: S seeds of one model (one set of hyperparameters) trained as one
batched computation on one device, each member ending where its separate run ends.

* :mod:`zoo.stacked.networks`: a network of S members as one (``torch.func.vmap`` over ``functional_call``, the
  weights stacked ``[S, *shape]``), and one optimiser over stacked weights;
* :mod:`zoo.stacked.members`: the members (each seed's trainer, built as its separate run builds it, and that
  run's random streams) and their networks and optimisers stacked;
* :mod:`zoo.stacked.gan`: :class:`zoo.gan.GANTrainer`'s step on a stack;
* :mod:`zoo.stacked.training`: the loop, :func:`zoo.training.train` for a stack, per-member checkpoints.

Which models stack: those whose trainer is a :class:`zoo.gan.GANTrainer` taking GANTrainer's own step (its
switches included: losses, ``n_critic``, the average, the gradient penalty), with Adam, AdamW or SGD, and no
parametrised layer. :func:`refusal` says why another cannot.
"""

from __future__ import annotations

from zoo.stacked.gan import refusal
from zoo.stacked.members import Member, build_members
from zoo.stacked.training import train_stacked

__all__ = ["Member", "build_members", "refusal", "train_stacked"]
