"""Lazy attributes of a package: names imported from their module on first use."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["attach"]


def attach(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return the ``__getattr__`` and ``__dir__`` of ``package`` for its lazy ``names``.

    Parameters
    ----------
    package : str
        The package's ``__name__``; it must be in :data:`sys.modules` (call this from its
        ``__init__``).
    names : Mapping of str to str
        Each lazy attribute and the module it is imported from. An attribute is imported once,
        then cached in the package's namespace.

    Returns
    -------
    tuple of callable
        ``(__getattr__, __dir__)``, to assign at the package's top level (PEP 562).

    Examples
    --------
    >>> import types, sys
    >>> pkg = types.ModuleType("demo_pkg")
    >>> sys.modules["demo_pkg"] = pkg
    >>> pkg.__getattr__, pkg.__dir__ = attach("demo_pkg", {"sqrt": "math"})
    >>> pkg.sqrt(9.0)
    3.0
    >>> del sys.modules["demo_pkg"]
    """
    namespace = vars(sys.modules[package])

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
