"""Launch the infotrafic API with uvicorn, refusing to expose it without a token.

From the repository root::

    python examples/api/serve.py                          # 127.0.0.1:8000
    INFOTRAFIC_API_TOKEN=$(python -c 'import secrets; print(secrets.token_urlsafe(32))') \\
        python examples/api/serve.py --host 0.0.0.0 --port 8000

With no token configured (``INFOTRAFIC_API_TOKEN`` / ``INFOTRAFIC_API_TOKEN_FILE``) it binds only
loopback addresses (``127.0.0.1``, ``::1``, ``localhost``) unless ``--insecure`` is given.
``--create-token-file`` writes a fresh random token (mode 0600) to ``INFOTRAFIC_API_TOKEN_FILE``
when that file does not exist yet: the docker ``api`` service uses it so the stack always starts
with a token the operator reads from the host (tokens given in ``INFOTRAFIC_API_TOKEN`` are
accepted as well).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _p in (_HERE, _HERE.parent):  # examples/api (this app) and examples/ (``common``)
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from _security import is_loopback, load_tokens  # noqa: E402
from common.settings import ExampleSettings  # noqa: E402

from infotrafic import ConfigurationError  # noqa: E402


def _create_token_file(path: Path) -> bool:
    """Write one random token to ``path`` unless it exists (atomic, 0600); True if written."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secrets.token_urlsafe(32) + "\n")
    try:
        os.link(tmp, path)  # never replaces a file written meanwhile
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    return True


def main(argv: list[str] | None = None) -> int:
    """Parse the options, check the exposure, run uvicorn; the exit code."""
    parser = argparse.ArgumentParser(
        prog="serve.py", description="Run the infotrafic API (one uvicorn worker)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (8000)")
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="bind a non-loopback address even without any token (anyone reaching it can "
        "launch jobs)",
    )
    parser.add_argument(
        "--create-token-file",
        action="store_true",
        help="write a random token to INFOTRAFIC_API_TOKEN_FILE when that file is missing",
    )
    parser.add_argument("--log-level", default="info", help="uvicorn log level (info)")
    args = parser.parse_args(argv)
    if args.insecure:
        os.environ["INFOTRAFIC_API_INSECURE"] = "true"  # the app's own guard reads it too
    try:
        settings = ExampleSettings()
        if args.create_token_file:
            if settings.api_token_file is None:
                raise ConfigurationError(
                    "--create-token-file needs INFOTRAFIC_API_TOKEN_FILE (where to write it)"
                )
            if _create_token_file(Path(settings.api_token_file)):
                print(f"serve.py: wrote a new API token to {settings.api_token_file}")
        tokens = load_tokens(settings)
    except (ConfigurationError, OSError) as exc:
        print(f"serve.py: {exc}", file=sys.stderr)
        return 2
    if not tokens and not is_loopback(args.host) and not args.insecure:
        print(
            f"serve.py: refusing to bind {args.host}: no API token is configured, so anyone "
            "reaching it could launch ingests, ETL runs and trainings. Set "
            "INFOTRAFIC_API_TOKEN (or INFOTRAFIC_API_TOKEN_FILE), bind 127.0.0.1, or pass "
            "--insecure.",
            file=sys.stderr,
        )
        return 2
    import uvicorn

    uvicorn.run(
        "app:app",
        app_dir=str(_HERE),
        host=args.host,
        port=args.port,
        workers=1,
        log_level=args.log_level,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
