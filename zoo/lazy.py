"""Package attributes imported on first use (PEP 562), so that importing a package costs only what is used.

A package lists, per module, the names it offers from it; the first access of any of them imports that module and
binds all of its names in the package, after which they are plain attributes. Binding them together keeps a name
that is also a submodule's (``zoo.metrics.evaluate``, the function, in ``evaluate.py``) bound to the name, not to
the submodule the import system binds there: import such a name from the package, never its submodule directly.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, tuple[str, ...]]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for ``package`` (its ``__name__``, called from its
    ``__init__``), which offers ``exports[module]`` (names) from each module (absolute names)."""
    origin = {name: module for module, names in exports.items() for name in names}
    namespace = vars(sys.modules[package])

    def __getattr__(name: str) -> Any:
        if name not in origin:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(origin[name])
        namespace.update({offered: getattr(module, offered) for offered in exports[origin[name]]})
        return namespace[name]

    def __dir__() -> list[str]:
        return sorted({*namespace, *origin})

    return sorted(origin), __getattr__, __dir__
