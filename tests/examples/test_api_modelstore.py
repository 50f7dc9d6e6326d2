"""The examples' model store: library model directories, the champion, concurrent writers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "examples") not in sys.path:
    sys.path.insert(0, str(REPO / "examples"))

from common.modelstore import ModelStore, safe_child  # noqa: E402

from infotrafic.datasets import load_sample  # noqa: E402
from infotrafic.forecasting import ForecastModel, train  # noqa: E402

pytestmark = pytest.mark.examples

#: Real data, small: arc 4264 from September 2023 (the sample's last three months).
_SAMPLE = load_sample()
_PANEL = _SAMPLE[
    (_SAMPLE["arc_id"] == 4264) & (_SAMPLE["time"] >= pd.Timestamp("2023-09-01", tz="UTC"))
]
_VALIDATE = "2023-11-28"


def _trained(name: str, validate: str | None = _VALIDATE) -> ForecastModel:
    return train(_PANEL, name, horizons=[1, 2], validate_start=validate, state=False)


@pytest.fixture(scope="module")
def models() -> dict[str, ForecastModel]:
    """One validated model of each of three forecasters, on the same data and window."""
    return {name: _trained(name) for name in ("naive", "seasonal_naive", "historical_average")}


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
    for version in ("../index", ".hidden", "a/b", "x" * 200):
        with pytest.raises(ValueError):
            store.model_dir(version)


def test_save_load_latest_and_champion(tmp_path: Path, models: dict[str, ForecastModel]) -> None:
    store = ModelStore(tmp_path / "models")
    assert store.latest() is None and store.champion() is None and store.records() == []
    model = models["seasonal_naive"]
    record = store.save(model, source="sample", arcs=[4264])
    assert (tmp_path / "models" / record.version / "manifest.json").exists()
    assert record.name == "seasonal_naive" and record.horizons == [1, 2]
    assert record.source == "sample" and record.arcs == [4264]
    assert record.metrics is not None and record.validation_window is not None
    assert store.latest() == record == store.latest("seasonal_naive")
    assert store.champion() == record  # no champion recorded yet: the newest
    assert store.crown(record, model).moved
    loaded = store.load(record)
    assert loaded.horizons == (1, 2) and loaded.training == model.training
    assert store.load(record) is loaded  # cached
    assert store.latest("gbm") is None
    assert store.annotate(record.version, mlflow={"run_id": "x"}).mlflow == {"run_id": "x"}


def test_champion_moves_only_when_not_worse_on_the_same_window(
    tmp_path: Path, models: dict[str, ForecastModel]
) -> None:
    store = ModelStore(tmp_path / "models")
    maes = {name: m.metrics["mae"] for name, m in models.items()}  # type: ignore[index]
    order = sorted(maes, key=maes.__getitem__)  # best first
    best, worst = order[0], order[-1]
    first = store.save(models[worst])
    assert store.crown(first, models[worst]).comparison == "none"
    second = store.save(models[best])
    decision = store.crown(second, models[best])
    assert decision.moved and decision.comparison == "stored"  # same window and data
    assert store.champion() == second
    third = store.save(models[worst])
    decision = store.crown(third, models[worst])
    assert not decision.moved and decision.champion_version == second.version
    assert store.champion() == second and store.latest() == third
    assert store.champion_decision()["version"] == second.version  # type: ignore[index]
    # No validation: no fair comparison, the champion stays.
    unvalidated = _trained("naive", validate=None)
    fourth = store.save(unvalidated)
    assert not store.crown(fourth, unvalidated).moved
    assert store.champion() == second


def test_threads_publish_consistently(tmp_path: Path, models: dict[str, ForecastModel]) -> None:
    store = ModelStore(tmp_path / "models", keep=100)
    names = list(models) * 3

    def one(name: str) -> str:
        record = store.save(models[name])
        store.crown(record, models[name])
        return record.version

    with ThreadPoolExecutor(6) as pool:
        versions = list(pool.map(one, names))
    assert len(set(versions)) == len(names)
    fresh = ModelStore(tmp_path / "models")
    assert {r.version for r in fresh.records()} == set(versions)
    for r in fresh.records():
        fresh.load(r)
    champion = fresh.champion()
    assert champion is not None and champion.version in versions
    maes = {name: m.metrics["mae"] for name, m in models.items()}  # type: ignore[index]
    assert champion.name == min(maes, key=maes.__getitem__)  # decided one at a time
    assert not [p for p in (tmp_path / "models").iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_processes_publish_consistently(tmp_path: Path) -> None:
    """Two processes saving at once (the file lock, not only the thread lock)."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(REPO / "examples")!r})
        from pathlib import Path
        from common.modelstore import ModelStore
        from infotrafic.datasets import load_sample
        from infotrafic.forecasting import train
        import pandas as pd
        panel = load_sample()
        since = pd.Timestamp("2023-09-01", tz="UTC")
        panel = panel[(panel["arc_id"] == 4264) & (panel["time"] >= since)]
        store = ModelStore(Path(sys.argv[1]), keep=100)
        model = train(panel, sys.argv[2], horizons=[1], validate_start="2023-11-28",
                      state=False)
        for i in range(3):
            store.crown(store.save(model), model)
        """
    )
    root = tmp_path / "models"
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(root), name])
        for name in ("naive", "seasonal_naive")
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    store = ModelStore(root)
    records = store.records()
    assert len(records) == 6 and {r.name for r in records} == {"naive", "seasonal_naive"}
    chosen = json.loads((root / "champion.json").read_text())
    assert chosen["version"] in {r.version for r in records}
    for r in records:
        store.load(r)


def test_prune_keeps_the_champion_and_the_newest_of_each_name(
    tmp_path: Path, models: dict[str, ForecastModel]
) -> None:
    store = ModelStore(tmp_path, keep=2)
    maes = {name: m.metrics["mae"] for name, m in models.items()}  # type: ignore[index]
    best = min(maes, key=maes.__getitem__)
    others = [n for n in models if n != best]
    champion = store.save(models[best])
    store.crown(champion, models[best])
    for _ in range(2):
        for name in others:
            record = store.save(models[name])
            assert not store.crown(record, models[name]).moved
    kept = {r.version for r in store.records()}
    assert champion.version in kept  # the oldest, but the champion
    assert len(kept) == 3  # keep=2, plus the pinned champion
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".json" and p.stem not in kept | {
        "champion"
    }]  # fmt: skip


def test_a_directory_written_by_the_cli_is_a_version(tmp_path: Path) -> None:
    """``infotrafic train --out <models>/<name>`` adds a version; without a recorded champion
    the store serves its newest model."""
    out = tmp_path / "models" / "cli-run-1"
    proc = subprocess.run(
        [sys.executable, "-m", "infotrafic", "train", "--sample", "--model", "naive",
         "--horizon", "1", "--arc", "4264", "--no-progress", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    store = ModelStore(tmp_path / "models")
    record = store.record("cli-run-1")
    assert record.name == "naive" and record.source is None
    assert store.champion() == record == store.latest()
    assert isinstance(store.load(record), ForecastModel)
    assert pd.Timestamp(record.training["end"]) > pd.Timestamp("2023-11-01", tz="UTC")
