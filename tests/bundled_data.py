"""Where the real Paris files of the tests are: ``tests/data/paris``, bundled in the repository.

The folder is a byte-identical copy of the project's shared data folder (its ``README.md``
describes every file; ``SHA256SUMS`` lists them with their checksums). The files are
*Ville de Paris — comptages routiers permanents (opendata.paris.fr), ODbL* (``LICENSE-DATA.md``).

``INFOTRAFIC_SHARED_DATA`` points the tests at another folder with the same layout. A missing
folder or file is an error naming the path and the fix, never a skip: a suite that silently skips
its real-data tests on a fresh clone (or in CI) proves nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

#: The bundled real files (kept out of the wheel: only ``infotrafic*`` packages are shipped).
BUNDLED = Path(__file__).resolve().parent / "data" / "paris"
#: ``sha256sum`` listing of the bundled files, relative to :data:`BUNDLED`.
MANIFEST = BUNDLED / "SHA256SUMS"
#: The variable that points the tests at another copy of the data.
ENV = "INFOTRAFIC_SHARED_DATA"


class MissingDataError(FileNotFoundError):
    """A real data folder or file the tests need is not there."""


def manifest() -> dict[str, str]:
    """Relative path -> SHA-256 of every bundled file, read from :data:`MANIFEST`."""
    sums: dict[str, str] = {}
    for line in MANIFEST.read_text(encoding="utf-8").splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name.lstrip("*")] = digest
    return sums


def locate(environ: Mapping[str, str] = os.environ) -> Path:
    """The real data folder, checked: every file of the manifest must be in it.

    Raises
    ------
    MissingDataError
        When the folder or one of the files is missing; the message names the path and the fix.
    """
    override = environ.get(ENV)
    folder = Path(override) if override else BUNDLED
    if override:
        fix = f"point {ENV} at a folder with the layout of tests/data/paris, or unset it"
    else:
        fix = (
            "the files are part of the repository: restore them "
            "(`git checkout -- tests/data/paris` or a fresh clone)"
        )
    if not folder.is_dir():
        raise MissingDataError(f"real data folder {folder} not found; {fix}")
    missing = [folder / name for name in manifest() if not (folder / name).is_file()]
    if missing:
        names = ", ".join(str(p) for p in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise MissingDataError(f"real data file(s) missing: {names}{more}; {fix}")
    return folder
