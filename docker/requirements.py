"""Print the third-party requirements of infotrafic (core, or only the given extras), one a line.

The Dockerfiles install these in their own layers before copying the source, so that editing the
code does not reinstall numpy & co.::

    python docker/requirements.py              # the core dependencies
    python docker/requirements.py api mlflow   # only what the extras add
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_SELF = re.compile(r"^infotrafic\s*\[(?P<extras>[^\]]+)\]")


def requirements(pyproject: Path, extras: list[str]) -> list[str]:
    """Core dependencies when ``extras`` is empty, else the (expanded) extras' dependencies."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    if not extras:
        return list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    out: list[str] = []
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        if extra not in optional:
            raise SystemExit(f"unknown extra {extra!r}; known: {', '.join(sorted(optional))}")
        for req in optional[extra]:
            match = _SELF.match(req)
            if match:
                todo.extend(e.strip() for e in match["extras"].split(","))
            elif req not in out:
                out.append(req)
    return out


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    path = here.parent / "pyproject.toml"
    if not path.exists():
        path = Path("pyproject.toml")
    print("\n".join(requirements(path, sys.argv[1:])))
