"""A model's search space: the ranges a hyperparameter sweep draws its settings from (``zoo bench --trials``).

A plugin declares it with its model, one range per hyperparameter the sweep varies (a keyword argument of the
factory; the others keep their defaults)::

    ModelSpec(..., search_space={
        "lr": LogUniform(1e-5, 1e-2),                  # log-uniform between the bounds
        "betas": TupleOf(Uniform(0.0, 1.0), 0.999),    # a tuple hyperparameter: beta1 drawn, beta2 fixed
        "n_critic": Choice([1, 5]),                    # one of the values, each equally likely
        "width": IntRange(32, 96),                     # a whole number between the bounds, both included
    })

Registration checks the space against the factory's typed keyword arguments (:func:`check_space`): an unknown name,
an empty range or a value the hyperparameter's type does not take (a :class:`Uniform` for an ``int``) is a one-line
:class:`~zoo.errors.PluginError` naming the model.

**Draws** (:func:`draw`). Trial 0 of a sweep is the model's defaults: Lucic et al. 2018 ("Are GANs Created Equal?",
whose code is google/compare_gan) put each model's published setting among the settings they searched, so a sweep
always says how the default compares. Trial ``t > 0`` draws each hyperparameter on its own, from numpy's
``default_rng`` seeded with the sweep seed, ``t`` and digests of the model's and the hyperparameter's names: a value
depends on nothing else (not on the other hyperparameters of the space, not on how many trials are run, not on the
machine), so a sweep grown from 8 to 16 trials keeps its first 8. Only uniform doubles are drawn
(``Generator.random``) and mapped to each range here, so a draw depends on numpy's bit generator (PCG64, whose
stream numpy keeps stable) and not on its distribution algorithms. Continuous values are rounded to
:data:`SIGNIFICANT` significant digits, so that a setting reads, and is typed back as ``--hparam`` flags, exactly.

Why a fixed random search rather than a tuner (Optuna's samplers, say): it is what Lucic et al. did, every trial is
independent of the others' results, so trials are ordinary bench cells that run in any order on any executor and
resume, and it needs no dependency.
"""

from __future__ import annotations

import abc
import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.errors import PluginError, UsageError
from zoo.hparams import HParam, coerce

SIGNIFICANT = 3
"""Significant digits a continuous draw is rounded to."""


class Range(abc.ABC):
    """Where one hyperparameter's values are drawn from."""

    @abc.abstractmethod
    def draw(self, rng: np.random.Generator) -> Any:
        """One value, from ``rng.random()`` draws only."""

    @abc.abstractmethod
    def extremes(self) -> list[Any]:
        """The values checked at registration, lowest first: the two ends of a range, every value of a choice. The
        first and the last are the space's corners (the conformance check ``search_space`` builds both)."""

    @abc.abstractmethod
    def problem(self) -> str | None:
        """Why this range is unusable (empty, or its bounds are not numbers), or None."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _rounded(value: float, low: float, high: float) -> float:
    """``value`` to :data:`SIGNIFICANT` significant digits, kept within ``[low, high]``."""
    shown = float(f"{value:.{SIGNIFICANT}g}")
    return min(max(shown, low), high)


@dataclass(frozen=True)
class Uniform(Range):
    """A float uniform in ``[low, high]``, ``low < high``."""

    low: float
    high: float

    def draw(self, rng: np.random.Generator) -> float:
        return _rounded(self.low + rng.random() * (self.high - self.low), self.low, self.high)

    def extremes(self) -> list[Any]:
        return [float(self.low), float(self.high)]

    def problem(self) -> str | None:
        if not (_number(self.low) and _number(self.high) and self.low < self.high):
            return f"{self} is empty or not numeric: it needs finite numbers low < high"
        return None


@dataclass(frozen=True)
class LogUniform(Range):
    """A float whose logarithm is uniform in ``[log low, log high]``, ``0 < low < high`` (learning rates, penalty
    weights: each decade is as likely as the next)."""

    low: float
    high: float

    def draw(self, rng: np.random.Generator) -> float:
        log_low, log_high = math.log(self.low), math.log(self.high)
        return _rounded(math.exp(log_low + rng.random() * (log_high - log_low)), self.low, self.high)

    def extremes(self) -> list[Any]:
        return [float(self.low), float(self.high)]

    def problem(self) -> str | None:
        if not (_number(self.low) and _number(self.high) and 0 < self.low < self.high):
            return f"{self} is empty or not numeric: it needs finite numbers 0 < low < high"
        return None


@dataclass(frozen=True)
class IntRange(Range):
    """A whole number uniform in ``[low, high]``, both included, ``low <= high``."""

    low: int
    high: int

    def draw(self, rng: np.random.Generator) -> int:
        return min(self.low + math.floor(rng.random() * (self.high - self.low + 1)), self.high)

    def extremes(self) -> list[Any]:
        return [self.low, self.high]

    def problem(self) -> str | None:
        whole = all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high))
        if not (whole and self.low <= self.high):
            return f"{self} is empty or not whole numbers: it needs integers low <= high"
        return None


@dataclass(frozen=True, init=False)
class Choice(Range):
    """One of ``values`` (JSON values: numbers, strings, lists), each equally likely."""

    values: tuple[Any, ...]

    def __init__(self, values: Iterable[Any]):
        object.__setattr__(self, "values", tuple(values))

    def draw(self, rng: np.random.Generator) -> Any:
        return self.values[min(math.floor(rng.random() * len(self.values)), len(self.values) - 1)]

    def extremes(self) -> list[Any]:
        return list(self.values)

    def problem(self) -> str | None:
        return None if self.values else "Choice([]) is empty: give at least one value"


@dataclass(frozen=True, init=False)
class TupleOf(Range):
    """A tuple hyperparameter whose items are drawn (a :class:`Range`) or fixed (any other value):
    ``TupleOf(Uniform(0.0, 1.0), 0.999)`` for Adam's betas with beta1 searched."""

    items: tuple[Any, ...]

    def __init__(self, *items: Any):
        object.__setattr__(self, "items", items)

    def draw(self, rng: np.random.Generator) -> tuple[Any, ...]:
        return tuple(item.draw(rng) if isinstance(item, Range) else item for item in self.items)

    def extremes(self) -> list[Any]:
        options = [item.extremes() if isinstance(item, Range) else [item] for item in self.items]
        return [tuple(values) for values in itertools.product(*options)]

    def problem(self) -> str | None:
        if not self.items:
            return "TupleOf() is empty: give its items"
        return next((p for item in self.items if isinstance(item, Range) and (p := item.problem())), None)


SearchSpace = Mapping[str, Range]
"""Hyperparameter name -> the range a sweep draws it from."""


def check_space(model: str, space: SearchSpace, hparams: Mapping[str, HParam]) -> None:
    """Raise :class:`PluginError` (one line, naming ``model``) unless every entry of ``space`` names one of the
    factory's ``hparams``, is a usable :class:`Range`, and each of its :meth:`~Range.extremes` is a value of the
    hyperparameter's type that survives a JSON round trip (as a run's ``config.json`` stores it) unchanged: a
    continuous range must be for a float, not an int."""
    for name, values in space.items():
        where = f"model {model!r}: search_space[{name!r}]"
        if name not in hparams:
            raise PluginError(f"{where}: the factory has no hyperparameter {name!r}; it has: {', '.join(hparams)}")
        if not isinstance(values, Range):
            raise PluginError(f"{where} is a {type(values).__name__}, not a range (LogUniform, Uniform, ...)")
        if problem := values.problem():
            raise PluginError(f"{where}: {problem}")
        for value in values.extremes():
            try:
                taken = coerce(name, value, hparams[name])
                stored = coerce(name, json.loads(json.dumps(taken)), hparams[name])
            except (UsageError, TypeError, ValueError) as error:
                raise PluginError(f"{where}: {value!r} does not fit the hyperparameter: {error}") from None
            if not _same(value, taken) or not _same(value, stored):
                raise PluginError(
                    f"{where}: {value!r} becomes {taken!r} as the hyperparameter's type "
                    f"({hparams[name].annotation}) takes it; draw values of that type"
                )


def _same(drawn: Any, taken: Any) -> bool:
    """Whether ``taken`` (a coerced value) is ``drawn`` unchanged: a float stays a float (an int may become one),
    sequences item by item."""
    if isinstance(drawn, (list, tuple)):
        return (
            isinstance(taken, (list, tuple))
            and len(drawn) == len(taken)
            and all(_same(d, t) for d, t in zip(drawn, taken, strict=True))
        )
    if isinstance(drawn, float):
        return isinstance(taken, float) and taken == drawn
    return type(taken) in (type(drawn), float) and taken == drawn


def corners(space: SearchSpace) -> list[dict[str, Any]]:
    """The space's two opposite corners: every range at its first extreme (a range's low end, a choice's first
    value), then every one at its last; one corner when they coincide; none for an empty space."""
    if not space:
        return []
    low = {name: values.extremes()[0] for name, values in space.items()}
    high = {name: values.extremes()[-1] for name, values in space.items()}
    return [low] if low == high else [low, high]


def draw(space: SearchSpace, *, model: str, sweep_seed: int, trial: int) -> dict[str, Any]:
    """Trial ``trial``'s setting of ``model`` in a sweep seeded ``sweep_seed``: ``{}`` for trial 0 (the defaults),
    else a value of each hyperparameter of ``space`` (see the module docstring), by name."""
    if trial == 0:
        return {}
    return {
        name: values.draw(np.random.default_rng([sweep_seed, trial, _digest(model), _digest(name)]))
        for name, values in sorted(space.items())
    }


def _digest(text: str) -> int:
    """A machine-independent number for ``text`` (Python's ``hash`` of a string changes per process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
