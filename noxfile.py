"""Task sessions: the same commands run locally and in CI (``nox`` runs them all)."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "docs", "docker", "tests"]
nox.options.reuse_existing_virtualenvs = True

# Sessions run on the interpreter that runs nox (3.11 or newer).
PYTHON: str | None = None


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff (pycodestyle, pyflakes, isort, numpydoc ``D`` rules) and format check."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".[all,lint]")
    session.run("mypy", "--strict", "infotrafic")


#: pandas series the suite runs on: the whole suite with coverage on 2.x, all but the ``slow``
#: tests on 3.x (installed over ``.[all]``, whose mlforecast 1.1 declares pandas<3). The
#: attacker probes of the API and the broker-fault tests are ``slow``: they run once, on 2.x.
PANDAS = {"2": ("pandas>=2.2,<3", "not docker"), "3": ("pandas>=3,<4", "not docker and not slow")}


@nox.session(python=PYTHON)
@nox.parametrize("pandas", list(PANDAS))
def tests(session: nox.Session, pandas: str) -> None:
    """The test suite (unit, property, loopback-server and examples tests; not docker)."""
    requirement, marks = PANDAS[pandas]
    session.install("-e", ".[all,test]")
    session.install(requirement)
    coverage = ["--cov", "--cov-report=term"] if pandas == "2" else []
    # one worker per core, a test file per worker (module fixtures such as the loopback servers
    # stay with their tests); pytest-benchmark, when installed, refuses xdist: not loaded
    parallel = ["-n", "auto", "--dist", "loadfile", "-p", "no:benchmark"]
    session.run("pytest", "-m", marks, "--timeout=600", *parallel, *coverage, *session.posargs)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Sphinx HTML with warnings as errors, then every example of the docs and docstrings."""
    session.install("-e", ".[all,docs,test]")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")
    session.run("pytest", "-p", "no:cacheprovider", "docs", "infotrafic", "-m", "not slow")


@nox.session(python=PYTHON)
def docker(session: nox.Session) -> None:
    """Build the service images on a local base image and run the stack on loopback."""
    session.install("-e", ".[test]")
    session.run(
        "pytest",
        "tests/docker",
        "-m",
        "docker",
        "--timeout=3000",
        "-p",
        "no:cacheprovider",
        *session.posargs,
    )
