"""Loading each plugin in a process of its own, to find one that ends the interpreter.

In-process loading (:func:`zoo.plugins.load_registry`) survives whatever a plugin raises, but no process can
survive, in itself, a plugin that calls ``os._exit``, crashes the interpreter (a segfault in C code), kills it or
hangs at import: every zoo command then ends, silently or not. ``zoo plugins probe`` finds such a plugin: it runs
``python -m zoo.plugin_probe NAME`` once per plugin, each loading zoo's core and that one plugin with the same
Python and import path, and reports how each process ended.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata

from zoo.errors import UnknownName
from zoo.plugins import ENTRY_POINT_GROUP, LOAD_PLUGINS_ENV, load_registry

_RESULT = "zoo-plugin-probe:"
"""Marks the child's last line: the plugin's load error (JSON, null when none). Its absence means the child died."""


@dataclass(frozen=True)
class ProbeResult:
    """How loading plugin ``name`` alone went: ``status`` is ``ok``, ``failed`` (caught: zoo skips the plugin and
    goes on) or ``fatal`` (the process ended or hung: every zoo command fails while it is installed)."""

    name: str
    status: str
    detail: str = ""


def probe_plugins(names: Iterable[str] = (), *, timeout: float = 300.0) -> list[ProbeResult]:
    """Load each plugin of the ``zoo`` entry-point group (or only ``names``) in a fresh process of its own.

    ``timeout`` (seconds) is how long a process may take before its plugin counts as hanging. Raises
    :class:`UnknownName` for a name that is not an installed plugin.
    """
    installed = installed_plugins()
    unknown = sorted(set(names) - set(installed))
    if unknown:
        raise UnknownName(f"no plugin {', '.join(unknown)} installed; installed plugins: {', '.join(installed)}")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(lambda name: _probe(name, timeout), sorted(names) or installed))


def installed_plugins() -> list[str]:
    """The entry-point names of the ``zoo`` group, sorted (what ``$ZOO_LOAD_PLUGINS`` selects from)."""
    return sorted({entry_point.name for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP)})


def _probe(name: str, timeout: float) -> ProbeResult:
    env = {**os.environ, LOAD_PLUGINS_ENV: name, "PYTHONPATH": os.pathsep.join(filter(None, sys.path))}
    command = [sys.executable, "-m", "zoo.plugin_probe", name]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return ProbeResult(name, "fatal", f"still loading after {timeout:.0f} s (hangs at import?)")
    reports = [line[len(_RESULT) :] for line in done.stdout.splitlines() if line.startswith(_RESULT)]
    if reports and done.returncode == 0:
        error = json.loads(reports[-1])
        return ProbeResult(name, "failed", error) if error else ProbeResult(name, "ok")
    if done.returncode < 0:
        how = f"killed by {signal.Signals(-done.returncode).name}"
    else:
        how = f"exit status {done.returncode}"
    return ProbeResult(name, "fatal", f"the process ended while loading it ({how})")


def _report(name: str) -> None:
    """The child: load zoo's core and plugin ``name`` (selected through ``$ZOO_LOAD_PLUGINS``), print the result."""
    warnings.simplefilter("ignore")
    registry = load_registry()
    error = next(p.error for p in registry.plugins if p.name == name)
    print(_RESULT + json.dumps(error), flush=True)


if __name__ == "__main__":
    _report(sys.argv[1])
