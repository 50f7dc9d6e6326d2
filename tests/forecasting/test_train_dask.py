"""``train(..., scheduler=...)`` and ``infotrafic train --dask``: the model of the local run.

The cluster is a real ``LocalCluster`` of worker processes (``local:N``) on 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from infotrafic.cli import main
from infotrafic.datasets import load_sample
from infotrafic.forecasting import ForecastModel, forecast, load_model, train

pytest.importorskip("distributed")

END = "2023-06-01"
AT = "2023-06-01 12:00"


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return load_sample()


def _same_model(got: ForecastModel, ref: ForecastModel, panel: pd.DataFrame) -> None:
    assert got.horizons == ref.horizons and got.targets == ref.targets
    pd.testing.assert_frame_equal(got.scores, ref.scores, check_exact=True)
    a, b = forecast(got, panel, at=AT), forecast(ref, panel, at=AT)
    pd.testing.assert_frame_equal(a, b, rtol=1e-6)
    assert a["flow"].notna().any()


def test_train_on_a_local_cluster_is_the_local_model(panel: pd.DataFrame) -> None:
    kw = {"horizons": [1, 24], "end": END, "validate_start": "2023-05-15", "refit": "7D"}
    ref = train(panel, "seasonal_naive", **kw)
    got = train(panel, "seasonal_naive", **kw, scheduler="local:2")
    _same_model(got, ref, panel)
    assert got.metrics == ref.metrics  # the validation backtest ran on the cluster too


def test_gbm_train_on_a_cluster_matches_within_tolerance(panel: pd.DataFrame) -> None:
    kw = {"horizons": [1], "end": END, "params": {"max_iter": 10}, "state": False}
    ref = train(panel, "gbm", **kw)
    got = train(panel, "gbm", **kw, scheduler="local:1")
    pd.testing.assert_frame_equal(got.scores, ref.scores, rtol=1e-5, atol=1e-3)
    a, b = forecast(got, panel, at=AT), forecast(ref, panel, at=AT)
    np.testing.assert_allclose(a["flow"], b["flow"], rtol=1e-5, atol=1e-3)


def test_cli_train_dask(panel: pd.DataFrame, tmp_path: Path) -> None:
    args = ["train", "--sample", "--model", "seasonal_naive", "--horizon", "1h", "--end", END,
            "--no-progress"]  # fmt: skip
    runner = CliRunner()
    res = runner.invoke(main, [*args, "--dask", "local:1", "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    ref = runner.invoke(main, [*args, "--n-jobs", "1", "--out", str(tmp_path / "l")])
    assert ref.exit_code == 0, ref.output
    _same_model(load_model(tmp_path / "d"), load_model(tmp_path / "l"), panel)


def test_cli_train_bad_local_value() -> None:
    res = CliRunner().invoke(
        main, ["train", "--sample", "--model", "naive", "--dask", "local:0", "--out", "x"]
    )
    assert res.exit_code != 0 and "local:N" in res.output
