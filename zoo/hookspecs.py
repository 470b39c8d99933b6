"""The hooks a zoo plugin can implement.

A plugin is a module exposed through the ``zoo`` entry-point group::

    [project.entry-points.zoo]
    my_model = "my_package.plugin"

and decorates functions in it with :data:`zoo.hookimpl`. Each hook receives a ``register`` callback
(the style of ``llm`` and ``tox``): call it once per thing you provide.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from zoo.interfaces import DatasetSpec, ExtractorSpec, ModelSpec

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@hookspec
def register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register model specs: ``register(ModelSpec(...))``."""


@hookspec
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register dataset specs: ``register(DatasetSpec(...))``."""


@hookspec
def register_extractors(register: Callable[[ExtractorSpec], None]) -> None:
    """Register feature extractors for the metrics: ``register(ExtractorSpec(...))``."""
