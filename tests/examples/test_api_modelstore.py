"""The examples' model store: path containment, atomic publication under concurrent writers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "examples") not in sys.path:
    sys.path.insert(0, str(REPO / "examples"))

from common.modelstore import ModelRecord, ModelStore, safe_child  # noqa: E402

from infotrafic.forecasters import make_forecaster  # noqa: E402

pytestmark = pytest.mark.examples

# Synthetic (for the store mechanics only): one arc, 400 hours.
_PANEL = pd.DataFrame(
    {
        "arc_id": 1,
        "time": pd.date_range("2024-01-01 01:00", periods=400, freq="h", tz="UTC"),
        "flow": np.arange(400, dtype="float64") % 24 * 10.0,
    }
)


def _fitted(name: str) -> Any:
    return make_forecaster(name).fit(_PANEL)


def _record(store: ModelStore, name: str) -> ModelRecord:
    return ModelRecord(
        version=store.new_version(),
        name=name,
        params={},
        source="sample",
        arcs=[4264],
        data_start=None,
        data_end=None,
        n_rows=0,
        created_at="2024-01-01T00:00:00+00:00",
    )


@pytest.mark.parametrize(
    "name",
    ["../x", "/etc/passwd", "a/../../b", "", "a\x00b", "..", "a/./../..", "..\\x", "./../x"],
)
def test_safe_child_rejects_escapes(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        safe_child(tmp_path, name)


def test_safe_child_rejects_symlink_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(ValueError, match="outside"):
        safe_child(root, "link/secret")


def test_safe_child_accepts_children(tmp_path: Path) -> None:
    assert safe_child(tmp_path, "a/b.csv") == (tmp_path / "a" / "b.csv").resolve()


def test_bad_versions_are_refused(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    for version in ("../index", "x", "20240101T000000000000Z-zzzzzzzz"):
        with pytest.raises(ValueError):
            store.model_path(version)


def test_save_load_and_latest(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    assert store.latest() is None and store.records() == []
    model = _fitted("seasonal_naive")
    rec = store.save(model, _record(store, "seasonal_naive"), backtest_json='{"overall": []}')
    assert store.latest() == rec == store.latest("seasonal_naive")
    assert store.latest("gbm") is None
    assert type(store.load(rec)).__name__ == type(model).__name__
    assert store.backtest_report(rec) == {"overall": []}
    assert [r.version for r in store.records()] == [rec.version]


def test_threads_publish_consistently(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models", keep=100)
    names = ["naive", "seasonal_naive", "historical_average"] * 4

    def one(name: str) -> str:
        return store.save(_fitted(name), _record(store, name)).version

    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(one, names))
    assert len(set(versions)) == len(names)
    index = json.loads((tmp_path / "models" / "index.json").read_text())
    assert index["latest"] in versions
    assert set(index["by_name"]) == set(names)
    fresh = ModelStore(tmp_path / "models")
    assert {r.version for r in fresh.records()} == set(versions)
    for r in fresh.records():
        fresh.load(r)
    assert not list((tmp_path / "models").glob("*.tmp"))


@pytest.mark.slow
def test_processes_publish_consistently(tmp_path: Path) -> None:
    """Two processes saving at once (the file lock, not only the thread lock)."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(REPO / "examples")!r})
        import pandas as pd
        from common.modelstore import ModelRecord, ModelStore
        from infotrafic.forecasters import make_forecaster
        times = pd.date_range("2024-01-01", periods=200, freq="h", tz="UTC")
        panel = pd.DataFrame({{"arc_id": 1, "flow": 1.0, "time": times}})
        store = ModelStore(__import__("pathlib").Path(sys.argv[1]), keep=100)
        for i in range(5):
            rec = ModelRecord(version=store.new_version(), name=sys.argv[2], params={{}},
                              source="sample", arcs=[1], data_start=None, data_end=None,
                              n_rows=0, created_at="2024-01-01T00:00:00+00:00")
            store.save(make_forecaster(sys.argv[2]).fit(panel), rec)
        """
    )
    root = tmp_path / "models"
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(root), name])
        for name in ("naive", "seasonal_naive")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    store = ModelStore(root)
    records = store.records()
    assert len(records) == 10
    index = json.loads((root / "index.json").read_text())
    assert index["latest"] in {r.version for r in records}
    assert set(index["by_name"]) == {"naive", "seasonal_naive"}
    for r in records:
        store.load(r)


def test_prune_keeps_the_published(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, keep=2)
    first = store.save(_fitted("historical_average"), _record(store, "historical_average"))
    for _ in range(4):
        store.save(_fitted("naive"), _record(store, "naive"))
    kept = {r.version for r in store.records()}
    assert first.version in kept  # still the latest "historical_average"
    assert len(kept) == 3
