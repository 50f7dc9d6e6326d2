"""The bundled real sample."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import infotrafic.datasets as ds
from infotrafic import ARC_COLUMNS, PANEL_COLUMNS, validate_panel
from infotrafic.datasets import SAMPLE_ARCS, load_sample, load_sample_arcs

DATA = Path(ds.__file__).with_name("data")


def test_sample_files_small() -> None:
    files = sorted(DATA.glob("*.parquet"))
    assert [p.name for p in files] == ["paris_sample_arcs.parquet", "paris_sample_panel.parquet"]
    assert sum(p.stat().st_size for p in files) < 1_000_000


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


def test_attribution_in_docstrings() -> None:
    for obj in (ds, load_sample, load_sample_arcs):
        assert "Ville de Paris" in (obj.__doc__ or "")
        assert "ODbL" in (obj.__doc__ or "")


def test_make_sample_usage() -> None:
    from infotrafic.datasets._make_sample import main

    assert main([]) == 2
    with pytest.raises(SystemExit, match="no arc"):
        main(["/nonexistent"])
