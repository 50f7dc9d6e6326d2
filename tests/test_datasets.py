"""The bundled real sample and network."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import infotrafic.datasets as ds
from infotrafic import ARC_COLUMNS, PANEL_COLUMNS, validate_panel
from infotrafic.datasets import SAMPLE_ARCS, load_network, load_sample, load_sample_arcs

DATA = Path(ds.__file__).with_name("data")


def test_bundled_files_small() -> None:
    files = sorted(DATA.glob("*.parquet"))
    assert [p.name for p in files] == [
        "paris_network_arcs.parquet",
        "paris_sample_arcs.parquet",
        "paris_sample_panel.parquet",
    ]
    assert sum(p.stat().st_size for p in files) < 1_000_000
    assert (DATA / "paris_network_arcs.parquet").stat().st_size < 400_000


def test_load_sample_is_canonical() -> None:
    panel = load_sample()
    assert tuple(panel.columns) == PANEL_COLUMNS
    pd.testing.assert_frame_equal(panel, validate_panel(panel))
    assert sorted(panel["arc_id"].unique()) == sorted(SAMPLE_ARCS)
    assert panel["time"].min() == pd.Timestamp("2022-11-01 03:00Z")
    assert panel["time"].max() == pd.Timestamp("2023-12-01 23:00Z")
    assert len(panel) > 27_000
    assert panel["flow"].notna().mean() > 0.9
    assert load_sample() is not panel  # a new frame each time


def test_load_sample_arcs() -> None:
    arcs = load_sample_arcs()
    assert tuple(arcs.columns) == ARC_COLUMNS
    assert arcs["arc_id"].tolist() == sorted(SAMPLE_ARCS)
    assert arcs.set_index("arc_id").loc[4264, "name"].startswith("AV_Champs")


def test_sample_equals_etl_of_exports(shared_data: Path, tmp_path: Path) -> None:
    from infotrafic.datasets._make_sample import make_sample

    panel_file, arcs_file = make_sample(shared_data, tmp_path)
    pd.testing.assert_frame_equal(pd.read_parquet(panel_file), load_sample())
    pd.testing.assert_frame_equal(pd.read_parquet(arcs_file), load_sample_arcs())


def test_load_network_is_the_whole_referentiel() -> None:
    network = load_network()
    assert tuple(network.columns) == ARC_COLUMNS
    assert network["arc_id"].is_unique and network["arc_id"].is_monotonic_increasing
    assert 3_000 < len(network) < 4_000
    assert set(SAMPLE_ARCS) <= set(network["arc_id"])
    shapes = [json.loads(g) for g in network["geometry"]]
    assert {s["type"] for s in shapes} == {"LineString"}
    points = [p for s in shapes for p in s["coordinates"]]
    lon, lat = zip(*points, strict=True)
    assert min(lon) > 2.2 and max(lon) < 2.5 and min(lat) > 48.8 and max(lat) < 48.91  # Paris
    assert network.set_index("arc_id").loc[4264, "name"].startswith("AV_Champs")
    assert load_network() is not network  # a new frame each time


def test_network_equals_read_arcs_of_the_referentiel(shared_data: Path, tmp_path: Path) -> None:
    from infotrafic.datasets._make_sample import REFERENTIEL, make_network
    from infotrafic.etl import read_arcs

    built = pd.read_parquet(make_network(shared_data, tmp_path))
    pd.testing.assert_frame_equal(built, load_network())
    ref = read_arcs(shared_data / REFERENTIEL).set_index("arc_id")
    assert sorted(ref.index) == built["arc_id"].tolist()
    pd.testing.assert_frame_equal(
        built.drop(columns="geometry").set_index("arc_id"), ref.drop(columns="geometry")
    )
    for arc, text in built.set_index("arc_id")["geometry"].sample(50, random_state=0).items():
        full = json.loads(ref.loc[arc, "geometry"])["coordinates"]
        rounded = json.loads(text)["coordinates"]
        assert len(full) == len(rounded)
        for (x, y), (u, v) in zip(full, rounded, strict=True):
            assert abs(x - u) <= 5e-7 and abs(y - v) <= 5e-7


def test_attribution_in_docstrings() -> None:
    for obj in (ds, load_sample, load_sample_arcs, load_network):
        assert "Ville de Paris" in (obj.__doc__ or "")
        assert "ODbL" in (obj.__doc__ or "")


def test_make_sample_usage() -> None:
    from infotrafic.datasets._make_sample import main

    assert main([]) == 2
    with pytest.raises(SystemExit, match="no referentiel"):
        from infotrafic.datasets._make_sample import make_network

        make_network(Path("/nonexistent"))
    with pytest.raises(SystemExit, match="no arc"):
        main(["/nonexistent"])
