"""The plugin manager: loads the ``zoo`` entry-point group and builds the registry of models, datasets and
feature extractors.

Built-in architectures are found exactly like third-party ones, through the entry points that their
distribution declares; zoo's own feature extractors come through the same ``register_extractors`` hook, from
:mod:`zoo.metrics.extractors`, registered by module name as the plugin ``zoo`` (as pytest and llm register their
default plugins): this module sits below the metrics and imports them only when it loads a registry. Every
plugin is loaded and called on its own: one that fails to import, raises in a hook or registers something
invalid is recorded as failed (with the error) and skipped, with a one-line warning, and never takes the
others down. That holds for whatever plugin code raises, ``SystemExit`` and ``KeyboardInterrupt`` included (only a
real Ctrl-C stops the host); what it prints goes to stderr, and a plugin that replaces the standard streams,
changes the working directory or the SIGINT handler fails, with all of these put back (see :func:`_plugin_code`).
What no process can catch in itself (``os._exit``, a segfault, a hang) is found by ``zoo plugins probe``, which
loads each plugin in a process of its own.

``ZOO_LOAD_PLUGINS`` (comma-separated entry-point names) restricts loading to the named plugins; set it to
an empty string to load none (compare ``LLM_LOAD_PLUGINS``).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from typing import Generic, TypeVar

import pluggy

from zoo import hookspecs
from zoo.errors import PluginError, UnknownName, ZooPluginWarning, describe
from zoo.hparams import signature_hparams
from zoo.interfaces import DatasetSpec, ExtractorSpec, ModelSpec
from zoo.plugin_code import ENTRY_POINT_GROUP, PluginCode, code_sha256
from zoo.search_space import check_space

LOAD_PLUGINS_ENV = "ZOO_LOAD_PLUGINS"
CORE = "zoo"
"""The plugin name of zoo's own hook implementations (its feature extractors), always loaded."""
ZOO_DISTRIBUTION = "genzoo"
"""zoo's own distribution: its core hooks and its built-in plugins."""
CORE_MODULE = "zoo.metrics.extractors"
"""The module of zoo's own hook implementations, imported by name when a registry is loaded."""
_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")
REAL_DATA = "real-data"
"""The model name of a bench's real-data floor rows (training images scored as if generated)."""
RESERVED_MODEL_NAMES = frozenset({REAL_DATA})
"""Names zoo's results use for rows that are not a model's; no plugin may register a model under one."""


@dataclass
class PluginInfo:
    """One entry point of the ``zoo`` group (or zoo's own core hooks) and what became of it."""

    name: str
    distribution: str
    version: str
    hooks: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def status(self) -> str:
        return "failed" if self.error else "ok"


Spec = TypeVar("Spec", ModelSpec, DatasetSpec, ExtractorSpec)


@dataclass(frozen=True)
class Registered(Generic[Spec]):
    """A registered spec with the plugin that provided it."""

    spec: Spec
    plugin: PluginInfo


class Catalog(Generic[Spec]):
    """The registered specs of one kind (models, datasets or extractors), by name, sorted.

    ``catalog[name]`` is the spec; an unknown name raises :class:`UnknownName` listing the known ones. A name
    registered by two plugins is a clash: it stays listed, and using it raises a :class:`PluginError` naming both
    distributions (never a silent override).
    """

    def __init__(self, kind: str, entries: dict[str, list[Registered[Spec]]]):
        self.kind = kind
        self._entries = dict(sorted(entries.items()))

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __getitem__(self, name: str) -> Spec:
        return self._lookup(name).spec

    def plugin(self, name: str) -> PluginInfo:
        """The plugin (distribution and version) that registered ``name``."""
        return self._lookup(name).plugin

    def including(self, spec: Spec, plugin: PluginInfo) -> Catalog[Spec]:
        """A copy that also holds ``spec`` from ``plugin`` (e.g. an image folder built for one command)."""
        return Catalog(self.kind, {**self._entries, spec.name: [Registered(spec, plugin)]})

    def clashes(self) -> list[str]:
        """One message per name that more than one plugin registered."""
        return [self._clash(name) for name, entries in self._entries.items() if len(entries) > 1]

    def _lookup(self, name: str) -> Registered[Spec]:
        if name not in self._entries:
            raise UnknownName(f"unknown {self.kind} {name!r}; registered {self.kind}s: {', '.join(self) or 'none'}")
        if len(self._entries[name]) > 1:
            raise PluginError(self._clash(name))
        return self._entries[name][0]

    def _clash(self, name: str) -> str:
        who = " and ".join(sorted(f"{e.plugin.distribution} (plugin {e.plugin.name})" for e in self._entries[name]))
        return (
            f"{self.kind} name clash: {name!r} is registered by both {who}; uninstall one, or load only one with "
            f"{LOAD_PLUGINS_ENV}"
        )


@dataclass(frozen=True)
class Registry:
    """Everything the loaded plugins registered: ``registry.models["dcgan"]``, ``registry.datasets.plugin("mnist")``."""

    plugins: list[PluginInfo]
    models: Catalog[ModelSpec]
    datasets: Catalog[DatasetSpec]
    extractors: Catalog[ExtractorSpec]
    _code_sha256: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def clashes(self) -> list[str]:
        return [*self.models.clashes(), *self.datasets.clashes(), *self.extractors.clashes()]

    def code(self, plugin: PluginInfo) -> PluginCode:
        """``plugin``'s distribution, version and code digest (:func:`zoo.plugin_code.code_sha256`), as results
        record them. The files are hashed once per distribution for this registry (a command loads one registry, so
        once per process), when first asked for: loading a registry reads no plugin files."""
        if plugin.distribution not in self._code_sha256:
            self._code_sha256[plugin.distribution] = code_sha256(plugin.distribution)
        return PluginCode(plugin.distribution, plugin.version, self._code_sha256[plugin.distribution])

    def extractor_code(self, name: str) -> PluginCode | None:
        """What identifies the code of extractor ``name`` in a protocol id: its plugin's :meth:`code`, or None for
        an extractor of zoo's own distribution, which :data:`zoo.metrics.METRICS_CODE_VERSION` and the git commit
        identify (so the ids of zoo's own protocols do not move with the built-in plugins' files)."""
        plugin = self.extractors.plugin(name)
        return None if plugin.distribution == ZOO_DISTRIBUTION else self.code(plugin)


def plugin_selection() -> tuple[str, ...] | None:
    """The plugins ``$ZOO_LOAD_PLUGINS`` names (None when it is not set: all), e.g. to pass to worker processes."""
    if LOAD_PLUGINS_ENV not in os.environ:
        return None
    return tuple(n.strip() for n in os.environ[LOAD_PLUGINS_ENV].split(",") if n.strip())


def load_registry(only: Iterable[str] | None = None) -> Registry:
    """Load zoo's own hooks and the ``zoo`` entry points (all, or the names in ``only`` / ``$ZOO_LOAD_PLUGINS``)."""
    only = plugin_selection() if only is None else only
    wanted = None if only is None else set(only)

    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    core = PluginInfo(CORE, ZOO_DISTRIBUTION, metadata.version(ZOO_DISTRIBUTION))
    manager.register(importlib.import_module(CORE_MODULE), name=CORE)
    plugins = [core]
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if wanted is not None and entry_point.name not in wanted:
            continue
        dist = entry_point.dist
        info = PluginInfo(entry_point.name, dist.metadata["Name"] if dist else "?", dist.version if dist else "?")
        plugins.append(info)
        with _plugin_code() as outcome:
            manager.register(entry_point.load(), name=entry_point.name)
        if outcome.problem:
            _fail(info, f"import failed: {outcome.problem}")
    for info in plugins:
        if not info.error:
            info.hooks = sorted(caller.name for caller in manager.get_hookcallers(manager.get_plugin(info.name)))

    by_name = {info.name: info for info in plugins}
    registry = Registry(
        plugins,
        models=Catalog("model", _collect(manager, by_name, "register_models", ModelSpec, _validate_model)),
        datasets=Catalog("dataset", _collect(manager, by_name, "register_datasets", DatasetSpec, _validate_dataset)),
        extractors=Catalog(
            "extractor", _collect(manager, by_name, "register_extractors", ExtractorSpec, _validate_extractor)
        ),
    )
    for clash in registry.clashes():
        warnings.warn(f"zoo: {clash}", ZooPluginWarning, stacklevel=2)
    return registry


def _collect(
    manager: pluggy.PluginManager,
    by_name: dict[str, PluginInfo],
    hook_name: str,
    spec_type: type[Spec],
    validate: Callable[[Spec], None],
) -> dict[str, list[Registered[Spec]]]:
    """Call one register-hook plugin by plugin, so that a failure is pinned on the plugin that caused it."""
    table: dict[str, list[Registered[Spec]]] = {}
    for impl in getattr(manager.hook, hook_name).get_hookimpls():
        info = by_name[impl.plugin_name]
        if info.error:
            continue
        offered: list = []
        with _plugin_code() as outcome:
            impl.function(register=offered.append)
            for spec in offered:
                if not isinstance(spec, spec_type):
                    raise PluginError(f"registered a {type(spec).__name__}, expected a {spec_type.__name__}")
                validate(spec)
        if outcome.problem:
            _fail(info, f"{hook_name} failed: {outcome.problem}")
            continue
        for spec in offered:
            table.setdefault(spec.name, []).append(Registered(spec, info))
    return table


def prints_to_stderr() -> contextlib.AbstractContextManager:
    """A context in which ``print()`` (whatever is written to ``sys.stdout``) goes to stderr. zoo runs a plugin's
    code in it (its factory, ``train_step``, sampling), so that a command's stdout holds only the command's own
    output: a table, ``--json``, lines a script reads."""
    return contextlib.redirect_stdout(sys.stderr)


def _validate_model(spec: ModelSpec) -> None:
    _validate_name(spec.name)
    if spec.name in RESERVED_MODEL_NAMES:
        raise PluginError(f"model name {spec.name!r} is reserved by zoo (its results use it); choose another name")
    if spec.family not in ("gan", "vae"):
        raise PluginError(f"model {spec.name!r}: family must be 'gan' or 'vae', not {spec.family!r}")
    if not callable(spec.factory):
        raise PluginError(f"model {spec.name!r}: factory is not callable")
    if not spec.paper:
        raise PluginError(f"model {spec.name!r}: paper reference is empty")
    spec.resolve_hparams(tiny=True)  # the signature, the defaults and the tiny values are usable
    for dataset in spec.dataset_hparams:
        spec.resolve_hparams(dataset)
    check_space(spec.name, spec.search_space, signature_hparams(spec.factory))


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


@dataclass
class _Outcome:
    problem: str | None = None
    """What went wrong, in one line (``"SystemExit: 0"``), or None."""


@contextlib.contextmanager
def _plugin_code() -> Iterator[_Outcome]:
    """Run plugin code (an import, a hook) so that it cannot end, stop or silence the host.

    Whatever the block raises (``SystemExit``, ``KeyboardInterrupt`` and ``GeneratorExit`` included) is caught
    and described in ``outcome.problem``; only a real Ctrl-C (SIGINT) received meanwhile propagates, as
    ``KeyboardInterrupt``. The block's prints go to stderr, so stdout stays the command's own (``--json``). The
    standard streams, the working directory and the SIGINT handler are put back afterwards, and a block that changed
    any of them fails; the warnings filters and display are put back silently (libraries legitimately silence
    their own warnings at import, but must not silence zoo's).
    """
    outcome = _Outcome()
    streams, cwd = (sys.stdin, sys.stdout, sys.stderr), os.getcwd()
    ctrl_c = threading.Event()

    def on_sigint(signum: int, frame: object) -> None:
        ctrl_c.set()
        raise KeyboardInterrupt

    in_main = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    sys.stdout = sys.stderr
    changed = []
    try:
        with warnings.catch_warnings():  # puts the filters and showwarning back on exit
            yield outcome
    except BaseException as error:  # noqa: BLE001 - everything plugin code raises is the plugin's failure
        if ctrl_c.is_set():
            raise KeyboardInterrupt from error
        outcome.problem = describe(error)
    finally:
        expected = (streams[0], streams[2], streams[2])  # stdout went to stderr meanwhile
        now = (sys.stdin, sys.stdout, sys.stderr)
        changed = [
            f"sys.{name}" for name, a, b in zip(("stdin", "stdout", "stderr"), now, expected, strict=True) if a is not b
        ]
        sys.stdin, sys.stdout, sys.stderr = streams
        if os.getcwd() != cwd:
            changed.append("the working directory")
            os.chdir(cwd)
        if in_main:
            if signal.getsignal(signal.SIGINT) is not on_sigint:
                changed.append("the SIGINT handler")
            signal.signal(signal.SIGINT, previous_handler)
    if changed and not outcome.problem:
        outcome.problem = f"changed {', '.join(changed)} of the zoo process (put back)"


def _fail(info: PluginInfo, message: str) -> None:
    info.error = message
    warnings.warn(f"zoo: skipping plugin {info.name} ({info.distribution}): {message}", ZooPluginWarning, stacklevel=3)
