"""Backtest forecasters and log one MLflow run per model (params, metrics, feature spec, model).

Runs on the bundled real sample by default, or on the parquet store of the data dir::

    python examples/tracking.py --model naive --model seasonal_naive --model gbm \
        --start 2023-11-01 --end 2023-12-01
    mlflow ui --backend-store-uri sqlite:///data/mlflow.db   # then open http://127.0.0.1:5000

Where runs go: ``INFOTRAFIC_MLFLOW_URI`` when set, else the local store ``<data_dir>/mlflow.db``
(artifacts in ``<data_dir>/mlartifacts``); ``INFOTRAFIC_DATA_DIR`` defaults to ``data``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common.settings import ExampleSettings
from common.tracking import feature_spec_of, log_backtest_run, tracking_uri

from infotrafic import InfotraficError
from infotrafic.backtest import backtest
from infotrafic.datasets import load_sample
from infotrafic.etl import ParquetStore
from infotrafic.forecasters import make_forecaster, save_forecaster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="Forecaster name (repeatable).")
    parser.add_argument("--data", choices=("sample", "store"), default="sample")
    parser.add_argument("--start", required=True, help="First scored hour (Paris time if naive).")
    parser.add_argument("--end", required=True, help="End of the scoring window (exclusive).")
    parser.add_argument("--refit", default="7D", help="Refit cadence (7D).")
    parser.add_argument("--horizon", type=int, default=1)
    parser.add_argument("--arcs", help="Comma-separated arc ids (default: all).")
    parser.add_argument(
        "--no-model", action="store_true", help="Do not fit and log the final models."
    )
    args = parser.parse_args(argv)
    names = args.model or ["naive", "seasonal_naive", "gbm"]
    arcs = [int(a) for a in args.arcs.split(",")] if args.arcs else None

    settings = ExampleSettings()
    if tracking_uri(settings) is None:
        parser.error("MLflow tracking is disabled (INFOTRAFIC_MLFLOW_ENABLED=false)")
    try:
        if args.data == "sample":
            panel = load_sample()
        else:
            panel = ParquetStore(settings.processed_dir).read(arcs=arcs)
        models = {name: make_forecaster(name, horizon=args.horizon) for name in names}
        result = backtest(
            panel,
            models,
            start=args.start,
            end=args.end,
            horizon=args.horizon,
            refit=args.refit,
            arcs=arcs,
        )
    except InfotraficError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report = result.report
    report_json = report.to_json()
    print(report.to_text())

    # Final models: fitted on everything before the end of the window, as they would be served.
    end = result.predictions["time"].max()
    history = panel[panel["time"] <= end]
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            model = make_forecaster(name, horizon=args.horizon)
            model_path = None
            if not args.no_model:
                model.fit(history)
                model_path = Path(tmp) / f"{name.replace(':', '_')}.model"
                save_forecaster(model, model_path)
            row = report.overall.loc[name]
            metrics = {
                k: float(row[k])
                for k in ("mae", "rmse", "bias", "mase", "wmape", "coverage")
                if k in row.index
            }
            tracked = log_backtest_run(
                settings,
                run_name=f"backtest-{name}",
                params={
                    "model": name,
                    "params": {k: v for k, v in model.get_params().items() if _simple(v)},
                    "data": args.data,
                    "start": args.start,
                    "end": args.end,
                    "refit": args.refit,
                    "horizon": args.horizon,
                    "arcs": args.arcs or "all",
                    "n_targets": report.n_targets,
                },
                metrics=metrics,
                feature_spec=feature_spec_of(model),
                report_json=report_json,
                model_path=model_path,
                tags={"infotrafic.kind": "backtest"},
            )
            if tracked.run_id is None:
                print(f"error: MLflow logging failed for {name}: {tracked.error}", file=sys.stderr)
                return 1
            print(f"{name}: MAE {metrics.get('mae', float('nan')):.1f} -> run {tracked.run_id}")
    print(f"tracking URI: {tracking_uri(settings)}")
    return 0


def _simple(value: object) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


if __name__ == "__main__":
    raise SystemExit(main())
