"""A model's hyperparameters are its factory's keyword-only arguments (timm's way: written once, typed).

A factory looks like ``build(image_shape, num_classes, *, latent_dim: int = 100, lr: float = 2e-4, ...)``:
:func:`signature_hparams` reads the names, defaults and annotations from that signature, and :func:`coerce`
converts a value given elsewhere (a profile, ``--hparam KEY=VALUE``, a saved ``config.json``) to the annotated
type with pydantic, so ``--hparam betas=[0.5,0.9]`` reaches the factory as ``(0.5, 0.9)``.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pydantic

from zoo.errors import PluginError, UsageError


@dataclass(frozen=True)
class HParam:
    """One hyperparameter: its default and the type values are converted to (``Any``: taken as given)."""

    default: Any
    annotation: Any


@functools.cache
def signature_hparams(factory: Callable[..., Any]) -> dict[str, HParam]:
    """The keyword-only parameters of ``factory``, in signature order.

    ``factory`` must take ``(image_shape, num_classes)`` positionally and everything else keyword-only with a
    default; an unannotated parameter takes the type of its default. Raises :class:`PluginError` otherwise.
    """
    try:
        parameters = inspect.signature(factory).parameters.values()
        hints = typing.get_type_hints(factory.__init__ if isinstance(factory, type) else factory)
    except (TypeError, ValueError, NameError) as error:
        raise PluginError(f"cannot read the signature of factory {factory!r}: {error}") from None
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) != 2 or any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
        raise PluginError(
            "a factory takes (image_shape, num_classes) and then only keyword-only hyperparameters, "
            f"e.g. def build(image_shape, num_classes, *, lr: float = 2e-4); got {inspect.signature(factory)}"
        )
    found = {}
    for p in parameters:
        if p.kind != p.KEYWORD_ONLY:
            continue
        if p.default is p.empty:
            raise PluginError(f"hyperparameter {p.name!r} of {factory.__name__} has no default")
        annotation = hints.get(p.name, Any if p.default is None else type(p.default))
        found[p.name] = HParam(p.default, annotation)
    return found


@functools.cache
def _adapter(annotation: Any) -> pydantic.TypeAdapter:
    return pydantic.TypeAdapter(annotation)


def coerce(name: str, value: Any, hparam: HParam) -> Any:
    """``value`` converted to ``hparam``'s type; :class:`UsageError` in one line when it cannot be."""
    try:
        return _adapter(hparam.annotation).validate_python(value)
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        where = "".join(f"[{part}]" for part in first["loc"])
        raise UsageError(
            f"hyperparameter {name}{where}={value!r} is not a valid {_type_name(hparam.annotation)}: {first['msg']}"
        ) from None


def _type_name(annotation: Any) -> str:
    return str(annotation) if typing.get_args(annotation) else getattr(annotation, "__name__", str(annotation))
