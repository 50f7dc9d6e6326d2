"""One field table and one state mapper; the test server keeps its own copy (an oracle)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import infotrafic
from infotrafic._fields import (
    FIELD_LABELS,
    FIELD_TABLE,
    FIELDS,
    map_columns,
    state_code,
)
from infotrafic._formats import formats, reader_for
from infotrafic._schema import CLOSURE_STATES, TRAFFIC_STATES
from infotrafic.testing import _render

PACKAGE = Path(infotrafic.__file__).parent


def test_every_spelling_of_a_field_maps_back_to_it() -> None:
    for field in FIELD_TABLE:
        for spelling in field.spellings:
            assert map_columns([spelling]) == {field.name: 0}, spelling
        mangled = field.label.replace("é", "\ufffd")
        assert map_columns(["x", mangled]) == {field.name: 1}, mangled


@pytest.mark.parametrize(
    ("field", "states"), [("etat_trafic", TRAFFIC_STATES), ("etat_barre", CLOSURE_STATES)]
)
def test_the_state_mapper_reads_labels_codes_and_mangled_labels(
    field: str, states: dict[int, str]
) -> None:
    for code, label in states.items():
        assert state_code(field, label) == code
        assert state_code(field, label.upper()) == code
        assert state_code(field, label.replace("é", "\ufffd")) == code
        assert state_code(field, str(code)) == code
        assert state_code(field, f"{code}.0") == code
    assert state_code(field, str(max(states) + 1)) is None
    assert state_code(field, "1.5") is None
    assert state_code(field, "nan") is None
    assert state_code(field, "not a state") is None


def test_the_test_server_agrees_with_the_field_table_from_its_own_copy() -> None:
    # the oracle writes the portal's vocabulary literally; both copies must say the same
    assert list(_render.FIELDS) == list(FIELDS)
    assert _render.LABELS == FIELD_LABELS
    assert _render.TRAFFIC_LABELS == TRAFFIC_STATES
    assert _render.CLOSURE_LABELS == CLOSURE_STATES


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_the_test_server_renders_without_the_library_s_parsers() -> None:
    for name in ("_render.py", "_server.py", "_handler.py"):
        imported = _imports(PACKAGE / "testing" / name)
        parsers = {
            m
            for m in imported
            if m.startswith(("infotrafic.opendata", "infotrafic._fields", "infotrafic._formats"))
        }
        assert not parsers, (name, parsers)


def test_no_other_module_spells_the_portal_labels() -> None:
    allowed = {PACKAGE / "_fields.py", PACKAGE / "testing" / "_render.py"}
    labels = [f.label for f in FIELD_TABLE if f.label != f.name]
    for path in PACKAGE.rglob("*.py"):
        if path in allowed:
            continue
        text = path.read_text(encoding="utf-8")
        code = "\n".join(
            line for line in text.splitlines() if not line.lstrip().startswith((">>>", "..."))
        )
        spelled = [label for label in labels if f'"{label}"' in code or f"'{label}'" in code]
        assert not spelled, (path, spelled)


def test_the_opendata_layer_does_not_import_etl_statically() -> None:
    for path in (PACKAGE / "opendata").glob("*.py"):
        etl = {m for m in _imports(path) if m.startswith("infotrafic.etl")}
        assert not etl, (path.name, etl)
    assert "infotrafic.etl" not in " ".join(_imports(PACKAGE / "_formats.py"))


def test_sniffing_order_and_content_detection() -> None:
    kinds = formats()
    assert kinds[0] == "gzip" and kinds[-1] == "csv"
    assert reader_for(b"PK\x03\x04....").kind == "zip"
    assert reader_for(b'[{"iu_ac": "1"}]').kind == "json"
    assert reader_for(b'{"results": []}').kind == "json"
    assert reader_for(b'{"iu_ac": "1"}\n{"iu_ac": "2"}\n').kind == "jsonl"
    assert reader_for(b"iu_ac;t_1h;q\n").kind == "csv"
