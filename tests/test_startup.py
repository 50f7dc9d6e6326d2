"""First contact stays light: ``--help``, ``import infotrafic`` and the pytest plugin skip pandas.

Each check runs in a fresh interpreter and looks at ``sys.modules`` (deterministic; the timings
are measured by ``benchmarks/startup.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import click
import pytest

from infotrafic.cli import main

#: Top-level packages a first contact must not import.
HEAVY = ("pandas", "numpy", "pyarrow", "sklearn", "httpx", "paho", "dask", "distributed")

_PROBE = textwrap.dedent(
    """
    import json, runpy, sys

    mode, args = sys.argv[1], sys.argv[2:]
    status = 0
    if mode == "cli":
        sys.argv = ["infotrafic", *args]
        try:
            runpy.run_module("infotrafic", run_name="__main__")
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
    else:
        for name in args:
            __import__(name)
    heavy = {heavy!r}
    loaded = sorted(m for m in sys.modules if m.partition(".")[0] in heavy)
    print("\\n@@" + json.dumps({{"status": status, "loaded": loaded}}))
    """
).format(heavy=HEAVY)


def _probe(mode: str, *args: str) -> tuple[int, list[str], str]:
    """Run the probe in a fresh interpreter; return (exit status, heavy modules, stdout)."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, mode, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out, _, tail = proc.stdout.rpartition("\n@@")
    result = json.loads(tail)
    return result["status"], result["loaded"], out


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path under ``group`` (the group itself included)."""
    paths = [prefix]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            paths.extend(_commands(command, (*prefix, name)))
        else:
            paths.append((*prefix, name))
    return paths


COMMANDS = _commands(main)


def test_every_command_is_enumerated() -> None:
    names = {path[0] for path in COMMANDS if path}
    assert {
        "backtest",
        "etl",
        "fetch",
        "forecast",
        "quality",
        "sync",
        "train",
        "stream",
        "publish",
    } <= names
    assert ("archive", "get") in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "infotrafic")
def test_help_imports_nothing_heavy(path: tuple[str, ...]) -> None:
    status, loaded, out = _probe("cli", *path, "--help")
    assert status == 0, out
    assert out.startswith("Usage: "), out
    assert loaded == [], f"`infotrafic {' '.join(path)} --help` imported {loaded}"


def test_subcommand_help_still_lists_its_options() -> None:
    status, loaded, out = _probe("cli", "backtest", "--help")
    assert status == 0
    for option in ("--model", "--start", "--horizon", "--level", "--sample", "--store"):
        assert option in out
    assert loaded == []


def test_version_imports_nothing_heavy() -> None:
    status, loaded, out = _probe("cli", "--version")
    assert status == 0
    assert out.startswith("infotrafic, version ")
    assert loaded == []


@pytest.mark.parametrize(
    "module",
    ["infotrafic", "infotrafic.cli", "infotrafic.exceptions", "infotrafic.testing.pytest_plugin"],
)
def test_import_is_light(module: str) -> None:
    _, loaded, _ = _probe("import", module)
    assert loaded == [], f"import {module} loaded {loaded}"


def test_lazy_names_still_resolve() -> None:
    code = (
        "import sys, infotrafic\n"
        "from infotrafic import PANEL_COLUMNS, Settings, validate_panel\n"
        "assert 'pandas' not in sys.modules\n"
        "assert set(infotrafic.__all__) <= set(dir(infotrafic))\n"
        "panel = infotrafic.empty_panel()\n"
        "assert tuple(validate_panel(panel).columns) == PANEL_COLUMNS\n"
        "assert Settings(data_dir='d').raw_dir.name == 'raw'\n"
        "assert 'pandas' in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_entry_points_are_the_light_modules() -> None:
    (script,) = entry_points(group="console_scripts", name="infotrafic")
    assert script.value == "infotrafic.cli:main"
    (plugin,) = entry_points(group="pytest11", name="infotrafic")
    assert plugin.value == "infotrafic.testing.pytest_plugin"


def test_pytest_plugin_loads_pandas_only_for_its_fixture(tmp_path: Path) -> None:
    (tmp_path / "test_plugin_use.py").write_text(
        textwrap.dedent(
            """
            import sys

            HEAVY = {heavy!r}


            def heavy():
                return sorted(m for m in sys.modules if m.partition(".")[0] in HEAVY)


            def test_a_without_fixture():
                assert heavy() == []


            def test_b_with_fixture(opendata_server):
                assert opendata_server.url.startswith("http://127.0.0.1:")
                assert "pandas" in heavy()
            """
        ).format(heavy=HEAVY)
    )
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "infotrafic.testing.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "-q",
            "test_plugin_use.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout
