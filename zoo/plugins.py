"""The plugin manager: loads the ``zoo`` entry-point group and builds the registry of models, datasets and
feature extractors.

Built-in architectures are found exactly like third-party ones, through the entry points that their
distribution declares. Every plugin is loaded and called on its own: one that fails to import, raises in a
hook or registers something invalid is recorded as failed (with the error) and skipped, with a one-line
warning, and never takes the others down.

``ZOO_LOAD_PLUGINS`` (comma-separated entry-point names) restricts loading to the named plugins; set it to
an empty string to load none (compare ``LLM_LOAD_PLUGINS``).
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Callable, Iterable

import pluggy

from zoo import hookspecs
from zoo.errors import PluginError, UnknownName
from zoo.interfaces import DatasetSpec, ExtractorSpec, ModelSpec

ENTRY_POINT_GROUP = "zoo"
LOAD_PLUGINS_ENV = "ZOO_LOAD_PLUGINS"
_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")


@dataclass
class PluginInfo:
    """One entry point of the ``zoo`` group and what became of it."""

    name: str
    distribution: str
    version: str
    module: str
    hooks: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def status(self) -> str:
        return "failed" if self.error else "ok"


@dataclass(frozen=True)
class Registered:
    """A registered spec with the plugin that provided it."""

    spec: ModelSpec | DatasetSpec | ExtractorSpec
    plugin: PluginInfo


class Registry:
    """Models and datasets from every loaded plugin, by name.

    A name registered by two plugins is a clash: it stays listed, and using it raises an error that names
    both distributions (never a silent override).
    """

    def __init__(
        self,
        plugins: list[PluginInfo],
        models: dict[str, list[Registered]],
        datasets: dict[str, list[Registered]],
        extractors: dict[str, list[Registered]] | None = None,
    ):
        self.plugins = plugins
        self._tables = {"model": models, "dataset": datasets, "extractor": extractors or {}}

    def list_models(self) -> list[str]:
        return sorted(self._tables["model"])

    def list_datasets(self) -> list[str]:
        return sorted(self._tables["dataset"])

    def model(self, name: str) -> ModelSpec:
        return self._lookup("model", name).spec  # type: ignore[return-value]

    def dataset(self, name: str) -> DatasetSpec:
        return self._lookup("dataset", name).spec  # type: ignore[return-value]

    def list_extractors(self) -> list[str]:
        return sorted(self._tables["extractor"])

    def extractor(self, name: str) -> ExtractorSpec:
        return self._lookup("extractor", name).spec  # type: ignore[return-value]

    def model_plugin(self, name: str) -> PluginInfo:
        """The plugin (distribution and version) that registered model ``name``."""
        return self._lookup("model", name).plugin

    def dataset_plugin(self, name: str) -> PluginInfo:
        return self._lookup("dataset", name).plugin

    def extractor_plugin(self, name: str) -> PluginInfo:
        return self._lookup("extractor", name).plugin

    def clashes(self) -> list[str]:
        """One message per name that more than one plugin registered."""
        return [
            _clash_message(kind, name, entries)
            for kind, table in self._tables.items()
            for name, entries in sorted(table.items())
            if len(entries) > 1
        ]

    def _lookup(self, kind: str, name: str) -> Registered:
        table = self._tables[kind]
        if name not in table:
            known = ", ".join(sorted(table)) or "none"
            raise UnknownName(f"unknown {kind} {name!r}; registered {kind}s: {known}")
        entries = table[name]
        if len(entries) > 1:
            raise PluginError(_clash_message(kind, name, entries))
        return entries[0]


def _clash_message(kind: str, name: str, entries: list[Registered]) -> str:
    who = " and ".join(sorted(f"{e.plugin.distribution} (plugin {e.plugin.name})" for e in entries))
    return f"{kind} name clash: {name!r} is registered by both {who}; uninstall one, or load only one with {LOAD_PLUGINS_ENV}"


class ZooPluginWarning(UserWarning):
    """A plugin was skipped or clashes with another; the CLI prints these as one line each."""


def load_registry(only: Iterable[str] | None = None) -> Registry:
    """Load the ``zoo`` entry points (all, or the names in ``only`` / ``$ZOO_LOAD_PLUGINS``) into a registry."""
    if only is None and LOAD_PLUGINS_ENV in os.environ:
        only = [n.strip() for n in os.environ[LOAD_PLUGINS_ENV].split(",") if n.strip()]
    wanted = None if only is None else set(only)

    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    plugins: list[PluginInfo] = []
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if wanted is not None and entry_point.name not in wanted:
            continue
        info = _describe(entry_point)
        plugins.append(info)
        try:
            manager.register(entry_point.load(), name=entry_point.name)
        except Exception as error:  # noqa: BLE001 - any failure in third-party code is the plugin's
            _fail(info, f"import failed: {type(error).__name__}: {error}")
            continue
        info.hooks = sorted(caller.name for caller in manager.get_hookcallers(manager.get_plugin(entry_point.name)))

    by_name = {info.name: info for info in plugins}
    models: dict[str, list[Registered]] = {}
    datasets: dict[str, list[Registered]] = {}
    _collect(manager, by_name, "register_models", ModelSpec, _validate_model, models)
    _collect(manager, by_name, "register_datasets", DatasetSpec, _validate_dataset, datasets)
    extractors: dict[str, list[Registered]] = {}
    _collect(manager, by_name, "register_extractors", ExtractorSpec, _validate_extractor, extractors)
    registry = Registry(plugins, models, datasets, extractors)
    for clash in registry.clashes():
        warnings.warn(f"zoo: {clash}", ZooPluginWarning, stacklevel=2)
    return registry


def _collect(
    manager: pluggy.PluginManager,
    by_name: dict[str, PluginInfo],
    hook_name: str,
    spec_type: type,
    validate: Callable,
    table: dict[str, list[Registered]],
) -> None:
    """Call one register-hook plugin by plugin, so that a failure is pinned on the plugin that caused it."""
    for impl in getattr(manager.hook, hook_name).get_hookimpls():
        info = by_name[impl.plugin_name]
        if info.error:
            continue
        offered: list = []
        try:
            impl.function(register=offered.append)
            for spec in offered:
                if not isinstance(spec, spec_type):
                    raise PluginError(f"registered a {type(spec).__name__}, expected a {spec_type.__name__}")
                validate(spec)
        except Exception as error:  # noqa: BLE001
            _fail(info, f"{hook_name} failed: {type(error).__name__}: {error}")
            continue
        for spec in offered:
            table.setdefault(spec.name, []).append(Registered(spec, info))


def _validate_model(spec: ModelSpec) -> None:
    _validate_name(spec.name)
    if spec.family not in ("gan", "vae"):
        raise PluginError(f"model {spec.name!r}: family must be 'gan' or 'vae', not {spec.family!r}")
    if not callable(spec.factory):
        raise PluginError(f"model {spec.name!r}: factory is not callable")
    if not spec.paper:
        raise PluginError(f"model {spec.name!r}: paper reference is empty")


def _validate_dataset(spec: DatasetSpec) -> None:
    _validate_name(spec.name)
    if len(spec.image_shape) != 3 or min(spec.image_shape) < 1:
        raise PluginError(f"dataset {spec.name!r}: image_shape must be (C, H, W), got {spec.image_shape}")
    if not callable(spec.load):
        raise PluginError(f"dataset {spec.name!r}: load is not callable")


def _validate_extractor(spec: ExtractorSpec) -> None:
    _validate_name(spec.name)
    if not isinstance(spec.extractor, type):
        raise PluginError(f"extractor {spec.name!r}: extractor must be a class (a torch-fidelity FeatureExtractorBase)")
    if not spec.feature_layer:
        raise PluginError(f"extractor {spec.name!r}: feature_layer is empty")


def _validate_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise PluginError(f"invalid name {name!r}: use lowercase letters, digits, '-' and '_'")


def _describe(entry_point: metadata.EntryPoint) -> PluginInfo:
    dist = entry_point.dist
    return PluginInfo(
        name=entry_point.name,
        distribution=dist.metadata["Name"] if dist else "?",
        version=dist.version if dist else "?",
        module=entry_point.value,
    )


def _fail(info: PluginInfo, message: str) -> None:
    info.error = message
    warnings.warn(f"zoo: skipping plugin {info.name} ({info.distribution}): {message}", ZooPluginWarning, stacklevel=3)
