"""A trained forecast model and its directory on disk.

A :class:`ForecastModel` holds one fitted forecaster per series and horizon (direct
multi-horizon forecasting), the recent forecast errors that calibrate its intervals and state
probabilities, and what it was trained on. It is saved as a directory::

    MODEL_DIR/
        manifest.json                 format, versions, options, training window, data
                                      fingerprint, metrics, checksums of the files below
        forecasters/flow_h01.joblib   one saved forecaster per series and horizon
        forecasters/occupancy_h01.joblib
        calibration.parquet           series, horizon, time, score: the calibration errors
        validation.json               the validation backtest report (when asked for)

The directory appears atomically (built aside, then renamed). Loading checks the format, the
infotrafic version (``major.minor`` must match, as for saved forecasters) and every file's
SHA-256, so a corrupted or foreign directory gives a clear error instead of wrong forecasts.
Only load directories you trust: the forecasters are pickles.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd

from infotrafic._io import atomic_directory, file_sha256, json_safe
from infotrafic._types import PathLike
from infotrafic._version import __version__
from infotrafic.exceptions import FileFormatError, InfotraficError, ModelCompatibilityError
from infotrafic.forecasters import Forecaster, load_forecaster, save_forecaster
from infotrafic.intervals import ConformalIntervals

__all__ = ["FORMAT_VERSION", "ForecastModel", "load_model"]

#: Version of the model directory layout.
FORMAT_VERSION = 1
_FORMAT = "infotrafic-forecast-model"
_MANIFEST = "manifest.json"
_CALIBRATION = "calibration.parquet"
_VALIDATION = "validation.json"
#: Hours of data the interval scales read before a forecast's data cutoff (a week).
_SCALE_LOOKBACK = 168


def _file_name(target: str, horizon: int) -> str:
    return f"forecasters/{target}_h{horizon:02d}.joblib"


@dataclasses.dataclass
class ForecastModel:
    """Fitted forecasters for every series and horizon, with their calibration.

    Build it with :func:`~infotrafic.forecasting.train`; use it with
    :func:`~infotrafic.forecasting.forecast`; store it with :meth:`save` and
    :func:`load_model`.

    Attributes
    ----------
    model : str
        The forecaster's registry name (``gbm``, ``seasonal_naive``, ...).
    params : dict
        Its hyper-parameters as given (``horizon``, ``delay`` and ``target`` are set per
        forecaster).
    horizons : tuple of int
        Hours ahead, one fitted forecaster per series and horizon.
    levels : tuple of float
        Prediction interval levels (percent).
    delay : int
        Publication delay in hours: a forecast issued at ``T`` uses data up to ``T - delay``.
    forecasters : dict
        ``(series, horizon) -> fitted forecaster``; series ``flow``, and ``occupancy`` when the
        model forecasts the traffic state.
    scores : pandas.DataFrame
        Calibration errors: ``target`` (series), ``horizon``, ``time`` (target hour, UTC) and
        ``score`` (``(y - ŷ) / scale``, see :class:`~infotrafic.intervals.ConformalIntervals`).
    calibrator : ConformalIntervals
        Turns the scores into intervals and state probabilities.
    training : dict
        The training data: ``start``, ``end`` (UTC ISO times; targets before ``end``),
        ``rows``, ``arcs``, ``fingerprint`` (SHA-256 of the panel's values).
    stale_after : int
        An arc whose last flow is more than this many hours before a forecast's data cutoff is
        listed as stale, without numbers.
    metrics : dict, optional
        Validation metrics (``--validate-start``), e.g. ``mae`` per horizon.
    validation : dict, optional
        The validation backtest report (JSON-ready).
    created : str
        UTC ISO time of training.
    version : str
        The infotrafic version that trained it.
    """

    model: str
    params: dict[str, Any]
    horizons: tuple[int, ...]
    levels: tuple[float, ...]
    delay: int
    forecasters: dict[tuple[str, int], Forecaster]
    scores: pd.DataFrame
    calibrator: ConformalIntervals
    training: dict[str, Any]
    stale_after: int = 24
    metrics: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None
    created: str = dataclasses.field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )
    version: str = __version__

    @property
    def targets(self) -> tuple[str, ...]:
        """The series forecast: ``("flow",)`` or ``("flow", "occupancy")``."""
        found = {target for target, _ in self.forecasters}
        return tuple(t for t in ("flow", "occupancy") if t in found)

    @property
    def history_hours(self) -> int | None:
        """Hours of data before a forecast's data cutoff that it reads (None: all of it).

        What the forecasters' features look back (:meth:`FeatureSpec.lookback`) and the week
        the interval scales read; a forecast from data cut to these hours equals one from all
        the data.
        """
        out = _SCALE_LOOKBACK
        for (_, horizon), f in self.forecasters.items():
            spec_fn = getattr(f, "feature_spec", None)
            lookback = spec_fn().lookback() if callable(spec_fn) else None
            if lookback is None:
                return None
            out = max(out, int(lookback) - horizon - self.delay)
        return out + 1

    @property
    def training_end(self) -> pd.Timestamp:
        """End (exclusive) of the training targets, UTC."""
        return pd.Timestamp(self.training["end"])

    def manifest(self) -> dict[str, Any]:
        """Return the JSON description written to ``manifest.json`` (without checksums).

        Returns
        -------
        dict
        """
        specs = {}
        for (target, horizon), f in sorted(self.forecasters.items()):
            spec_fn = getattr(f, "feature_spec", None)
            specs[f"{target}_h{horizon:02d}"] = spec_fn().to_dict() if callable(spec_fn) else None
        cal = self.calibrator
        return {
            "format": _FORMAT,
            "format_version": FORMAT_VERSION,
            "infotrafic_version": self.version,
            "created": self.created,
            "model": self.model,
            "params": json_safe(self.params),
            "horizons": list(self.horizons),
            "levels": list(self.levels),
            "delay_hours": self.delay,
            "targets": list(self.targets),
            "stale_after_hours": self.stale_after,
            "calibration": {
                "window_hours": cal.window,
                "step_hours": cal.step,
                "min_scores": cal.min_scores,
                "scale": cal.scale,
                "by_hour": cal.by_hour,
                "n_scores": len(self.scores),
            },
            "training": self.training,
            "metrics": self.metrics,
            "feature_specs": specs,
        }

    def save(self, path: PathLike) -> Path:
        """Write the model directory atomically (an existing one is replaced when complete).

        Parameters
        ----------
        path : str or os.PathLike
            The model directory.

        Returns
        -------
        pathlib.Path
        """
        dest = Path(path)
        with atomic_directory(dest) as tmp:
            files = {}
            for (target, horizon), f in sorted(self.forecasters.items()):
                name = _file_name(target, horizon)
                save_forecaster(f, tmp / name)
                files[name] = file_sha256(tmp / name)
            self.scores.to_parquet(tmp / _CALIBRATION, index=False)
            files[_CALIBRATION] = file_sha256(tmp / _CALIBRATION)
            if self.validation is not None:
                (tmp / _VALIDATION).write_text(json.dumps(self.validation), encoding="utf-8")
                files[_VALIDATION] = file_sha256(tmp / _VALIDATION)
            manifest = {**self.manifest(), "files": files}
            (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        return dest


def read_manifest(path: PathLike) -> dict[str, Any]:
    """Read and check a model directory's manifest (format and infotrafic version).

    Parameters
    ----------
    path : str or os.PathLike
        A directory written by :meth:`ForecastModel.save`.

    Returns
    -------
    dict

    Raises
    ------
    FileFormatError
        When the directory or its manifest is missing or unreadable.
    ModelCompatibilityError
        When it was written by another ``major.minor`` version of infotrafic or another
        layout version.
    """
    root = Path(path)
    where = root / _MANIFEST
    if not root.is_dir():
        raise FileFormatError(
            "not a model directory (train one with `infotrafic train ... --out DIR`)",
            file=str(root),
        )
    try:
        manifest: dict[str, Any] = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FileFormatError(
            f"no {_MANIFEST}: not an infotrafic model directory, or an incomplete copy; train "
            "it again with `infotrafic train ... --out DIR`",
            file=str(root),
        ) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(
            f"corrupt manifest ({exc}); train the model again", file=str(where)
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise FileFormatError(
            "the manifest does not describe an infotrafic forecast model", file=str(where)
        )
    saved = str(manifest.get("infotrafic_version", "unknown"))
    if saved.split(".")[:2] != __version__.split(".")[:2]:
        raise ModelCompatibilityError(
            f"{root}: model trained with infotrafic {saved}, this is {__version__} (major.minor "
            f"must match); train it again with this version, or use infotrafic=={saved}"
        )
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelCompatibilityError(
            f"{root}: model directory layout {manifest.get('format_version')!r}, this "
            f"infotrafic reads layout {FORMAT_VERSION}; train the model again"
        )
    return manifest


def load_model(path: PathLike) -> ForecastModel:
    """Load a model directory written by :meth:`ForecastModel.save` (or ``infotrafic train``).

    Parameters
    ----------
    path : str or os.PathLike
        The model directory (only load directories you trust: forecasters are pickles).

    Returns
    -------
    ForecastModel

    Raises
    ------
    FileFormatError
        When the directory is missing, incomplete or a file's checksum does not match
        (corruption); the message names the file.
    ModelCompatibilityError
        When it was written by an incompatible version of infotrafic.

    Examples
    --------
    >>> import tempfile
    >>> load_model(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    infotrafic.exceptions.FileFormatError: ...no manifest.json: not an infotrafic model directory...
    """
    root = Path(path)
    manifest = read_manifest(root)
    files = manifest.get("files") or {}
    for name, digest in files.items():
        file = root / name
        if not file.is_file():
            raise FileFormatError(f"{name} is missing; train the model again", file=str(root))
        if file_sha256(file) != digest:
            raise FileFormatError(
                "checksum mismatch: the file was changed or corrupted after training; train "
                "the model again",
                file=str(file),
            )
    try:
        forecasters: dict[tuple[str, int], Forecaster] = {}
        for target in manifest["targets"]:
            for horizon in manifest["horizons"]:
                name = _file_name(target, int(horizon))
                if name not in files:
                    raise FileFormatError(f"{name} is not listed in the manifest", file=str(root))
                forecasters[(target, int(horizon))] = load_forecaster(root / name)
        scores = pd.read_parquet(root / _CALIBRATION)
        validation = None
        if _VALIDATION in files:
            validation = json.loads((root / _VALIDATION).read_text(encoding="utf-8"))
        cal = manifest["calibration"]
        return ForecastModel(
            model=str(manifest["model"]),
            params=dict(manifest["params"]),
            horizons=tuple(int(h) for h in manifest["horizons"]),
            levels=tuple(float(x) for x in manifest["levels"]),
            delay=int(manifest["delay_hours"]),
            forecasters=forecasters,
            scores=scores,
            calibrator=ConformalIntervals(
                levels=tuple(float(x) for x in manifest["levels"]),
                window=int(cal["window_hours"]),
                step=int(cal["step_hours"]),
                min_scores=int(cal["min_scores"]),
                scale=cal["scale"],
                by_hour=bool(cal["by_hour"]),
            ),
            training=dict(manifest["training"]),
            stale_after=int(manifest["stale_after_hours"]),
            metrics=manifest.get("metrics"),
            validation=validation,
            created=str(manifest["created"]),
            version=str(manifest["infotrafic_version"]),
        )
    except InfotraficError:
        raise
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise FileFormatError(
            f"incomplete or inconsistent model directory ({type(exc).__name__}: {exc}); train "
            "the model again",
            file=str(root),
        ) from exc
