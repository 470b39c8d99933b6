"""The ranges the built-in models' search spaces (``ModelSpec.search_space``) are made of, and where each comes from.

Lucic et al. 2018, "Are GANs Created Equal? A Large-Scale Study" (arXiv:1711.10337; their code is google/compare_gan,
whose ``compare_gan/src/params.py`` holds the "wide" ranges of the study's first phase) drew every model's settings
from: Adam's learning rate log-uniform in [1e-5, 1e-2], Adam's beta1 uniform in [0, 1], 1 or 5 discriminator updates
per generator update, and WGAN-GP's penalty weight log-uniform in [0.1, 100]; they kept beta2, the batch size (64)
and the latent size (64) fixed. :data:`LEARNING_RATE`, :func:`adam_betas`, :data:`CRITIC_UPDATES` and
:data:`PENALTY_WEIGHT` are those ranges; beta2 stays each paper's.

They compared network sizes apart from the search; here sizes are searched too (:func:`around`): half, the paper's
and one and a half times the paper's width or latent size. A layer costs about the square of its width, so a trial's
expected cost stays near the default's ((0.25 + 1 + 2.25) / 3 = 1.17 times).

Each model's trial 0 is its paper's setting (:func:`zoo.search_space.draw`), as in Lucic et al.'s search.
"""

from __future__ import annotations

from zoo import Choice, LogUniform, TupleOf, Uniform

LEARNING_RATE = LogUniform(1e-5, 1e-2)
"""Adam's learning rate: Lucic et al.'s wide range."""
CRITIC_UPDATES = Choice([1, 5])
"""Discriminator (critic) updates per generator update: Lucic et al.'s wide range (``disc_iters``)."""
PENALTY_WEIGHT = LogUniform(0.1, 100.0)
"""WGAN-GP's gradient-penalty weight lambda: Lucic et al.'s wide range."""


def adam_betas(beta2: float) -> TupleOf:
    """Adam's betas with beta1 uniform in [0, 0.99] (Lucic et al.'s wide range [0, 1], short of 1, where Adam's
    update is undefined and torch refuses it) and ``beta2`` the paper's."""
    return TupleOf(Uniform(0.0, 0.99), beta2)


def around(default: int) -> Choice:
    """Half, ``default`` and one and a half times ``default`` (a width or a latent size)."""
    return Choice([default // 2, default, default * 3 // 2])


def stack_around(default: tuple[int, ...]) -> Choice:
    """An MLP's layer widths ``default``, all halved, as they are, and all one and a half times as wide."""
    return Choice([tuple(w // 2 for w in default), default, tuple(w * 3 // 2 for w in default)])
