"""``zipfile-deflate64`` is optional: imported only for deflate64 members, named when missing.

Each check runs in a fresh interpreter, so that the standard library's :mod:`zipfile` is the
unpatched one (importing ``zipfile_deflate64`` patches it for the whole process). "Without the
package" is obtained by blocking the import of that single module (``sys.modules[name] = None``
makes ``import name`` raise ImportError), as if it were not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
DEFLATE64 = DATA / "opendata_txt_mini_deflate64.zip"

WEEK = (
    "iu_ac;libelle;t_1h;q;k;etat_trafic;iu_nd_amont;libelle_nd_amont;iu_nd_aval;"
    "libelle_nd_aval;etat_barre;date_debut;date_fin\n"
    "4264;AV_Champs;2023-02-05 01:00:00;764;11.2;1;2294;W;2293;B;1;2005-01-01;2019-06-01\n"
    "4264;AV_Champs;2023-02-05 02:00:00;701;9.5;1;2294;W;2293;B;1;2005-01-01;2019-06-01\n"
)

SCRIPT = """
import json, sys
if sys.argv[1] == "blocked":
    sys.modules["zipfile_deflate64"] = None  # as if the package were not installed
from infotrafic.etl import read_file
from infotrafic.exceptions import FileFormatError

out = {}
plain = read_file(sys.argv[2])
out["plain_flow"] = plain.panel["flow"].tolist()
out["imported_after_plain"] = sys.modules.get("zipfile_deflate64") is not None
try:
    res = read_file(sys.argv[3])
    out["deflate64_rows"] = len(res.panel)
except FileFormatError as exc:
    out["error"] = str(exc)
out["imported_after_deflate64"] = sys.modules.get("zipfile_deflate64") is not None
print(json.dumps(out))
"""


def _plain_zip(tmp_path: Path) -> Path:
    path = tmp_path / "opendata_txt_2023.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("w05.txt", WEEK)
    with zipfile.ZipFile(path) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}
    return path


def _run(mode: str, plain: Path) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, str(plain), str(DEFLATE64)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_fixture_is_deflate64() -> None:
    with zipfile.ZipFile(DEFLATE64) as zf:
        assert {i.compress_type for i in zf.infolist()} == {9}


def test_without_the_package_plain_zip_reads_and_deflate64_names_the_fix(
    tmp_path: Path,
) -> None:
    out = _run("blocked", _plain_zip(tmp_path))
    assert out["plain_flow"] == [764.0, 701.0]
    assert "deflate64_rows" not in out
    message = str(out["error"])
    assert str(DEFLATE64) in message or DEFLATE64.name in message  # the archive
    with zipfile.ZipFile(DEFLATE64) as zf:
        first = zf.infolist()[0].filename
    assert repr(first) in message  # the member
    assert "deflate64" in message and "pip install 'infotrafic[archive]'" in message  # the fix
    assert out["imported_after_deflate64"] is False


def test_with_the_package_it_is_imported_only_for_deflate64(tmp_path: Path) -> None:
    pytest.importorskip("zipfile_deflate64")
    out = _run("installed", _plain_zip(tmp_path))
    assert out["plain_flow"] == [764.0, 701.0]
    assert out["imported_after_plain"] is False  # a plain deflate archive does not load it
    assert out["deflate64_rows"] == 144  # the fixture's rows (see test_read_formats.py)
    assert out["imported_after_deflate64"] is True
