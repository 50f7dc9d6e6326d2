"""The public surfaces are curated: each package's ``__all__`` is sorted, importable, documented.

One check per public package (``httpx``'s ``tests/test_exported_members.py`` does the same for
its top level): ``__all__`` is sorted (constants first, then ruff's isort order) without
repeats; every name resolves, by attribute and by ``from package import name``; every object
comes from infotrafic; and every name is documented in the Sphinx reference, i.e. picked up by
an ``automodule``/``autoclass``/``autofunction``/... directive of ``docs/``.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import infotrafic

#: The public packages (every subpackage without a leading underscore, and the top level).
PACKAGES = (
    "infotrafic",
    "infotrafic.backtest",
    "infotrafic.datasets",
    "infotrafic.etl",
    "infotrafic.features",
    "infotrafic.forecasters",
    "infotrafic.forecasting",
    "infotrafic.intervals",
    "infotrafic.opendata",
    "infotrafic.stream",
    "infotrafic.testing",
)
DOCS = Path(__file__).resolve().parents[1] / "docs"
_DIRECTIVE = re.compile(r"^\.\. auto(module|class|function|data|exception)::\s*(\S+)\s*$")
_OPTION = re.compile(r"^:([\w-]+):\s*(.*)$")


def _exported(package: str) -> list[str]:
    return [n for n in importlib.import_module(package).__all__ if n != "__version__"]


def _sort_key(name: str) -> tuple[bool, str]:
    return (not name.isupper(), name)


def _resolve(dotted: str) -> Any:
    """Import ``a.b.c`` as a module, or as an attribute of the longest importable prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _directives() -> list[tuple[str, str, dict[str, str]]]:
    """``(kind, target, options)`` of every autodoc directive of the docs (``_build`` aside)."""
    found = []
    for path in sorted(DOCS.rglob("*.rst")):
        if "_build" in path.parts:
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            match = _DIRECTIVE.match(line)
            if not match:
                continue
            options: dict[str, str] = {}
            last = None
            for more in lines[i + 1 :]:
                if more and not more[0].isspace():
                    break
                text = more.strip()
                option = _OPTION.match(text)
                if option:
                    last = option.group(1)
                    options[last] = option.group(2)
                elif text and last is not None:  # a continued option value
                    options[last] += " " + text
                elif not text and options:
                    break
            found.append((match.group(1), match.group(2), options))
    return found


def _names(value: str) -> set[str]:
    return {n.strip() for n in value.split(",") if n.strip()}


def _documented() -> set[tuple[str, int]]:
    """``(name, id(object))`` of everything the reference documents."""
    out: set[tuple[str, int]] = set()
    for kind, target, options in _directives():
        obj = _resolve(target)
        out.add((target.rsplit(".", 1)[-1], id(obj)))
        if kind != "module" or "members" not in options:
            continue
        module: ModuleType = obj
        names = _names(options["members"]) or set(
            getattr(module, "__all__", None)
            or [
                n
                for n, v in vars(module).items()
                if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
            ]
        )
        for name in names - _names(options.get("exclude-members", "")):
            value = getattr(module, name)
            if not inspect.ismodule(value):  # autodoc skips submodules: they need their own
                out.add((name, id(value)))
    return out


@pytest.fixture(scope="module")
def documented() -> set[tuple[str, int]]:
    return _documented()


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_sorted_and_unique(package: str) -> None:
    names = _exported(package)
    assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]
    assert names == sorted(names, key=_sort_key), (
        f"{package}.__all__ is not sorted; expected {sorted(names, key=_sort_key)}"
    )


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
        namespace: dict[str, Any] = {}
        exec(f"from {package} import {name}", namespace)
        assert namespace[name] is getattr(module, name), name


@pytest.mark.parametrize("package", PACKAGES)
def test_public_objects_live_in_infotrafic(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        obj = getattr(module, name)
        home = obj.__name__ if inspect.ismodule(obj) else getattr(obj, "__module__", None)
        if home is not None and (inspect.ismodule(obj) or inspect.isclass(obj) or callable(obj)):
            assert home.startswith("infotrafic"), (name, home)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_is_documented(package: str, documented: set[tuple[str, int]]) -> None:
    module = importlib.import_module(package)
    missing = [n for n in _exported(package) if (n, id(getattr(module, n))) not in documented]
    assert not missing, f"not in the Sphinx reference (docs/reference.rst): {package}: {missing}"


def test_the_top_level_keeps_its_version() -> None:
    assert isinstance(infotrafic.__version__, str) and "__version__" in infotrafic.__all__


def test_the_documentation_check_can_fail() -> None:
    # an object no directive names is reported missing, so the check is not vacuous
    assert ("_resolve", id(_resolve)) not in _documented()
    assert ("BacktestReport", id(_resolve("infotrafic.backtest.BacktestReport"))) in _documented()
    metrics = _resolve("infotrafic.backtest.metrics")
    assert ("mae", id(metrics.mae)) in _documented()  # its own automodule directive
