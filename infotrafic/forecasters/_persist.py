r"""Save and load fitted forecasters: a JSON header line, then a joblib payload.

File layout::

    INFOTRAFIC-FORECASTER\n
    {"infotrafic_version": "0.1.0", "class": "...", "feature_spec": {...}, ...}\n
    <joblib pickle of the forecaster>

The header can be read without unpickling anything (:func:`read_forecaster_header`). Loading
refuses files written by another ``major.minor`` version of infotrafic, since pickled internals
may differ. As with any pickle, only load files you trust.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib

from infotrafic._io import atomic_write, json_safe
from infotrafic._types import PathLike
from infotrafic._version import __version__
from infotrafic.exceptions import FileFormatError, ModelCompatibilityError
from infotrafic.forecasters._base import BaseForecaster, Forecaster

__all__ = ["load_forecaster", "read_forecaster_header", "save_forecaster"]

_MAGIC = b"INFOTRAFIC-FORECASTER\n"
_FORMAT_VERSION = 1


def _version_of(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _header(model: Forecaster) -> dict[str, Any]:
    spec = None
    feature_spec = getattr(model, "feature_spec", None)
    if callable(feature_spec):
        try:
            spec = feature_spec().to_dict()
        except NotImplementedError:
            spec = None
    cls = type(model)
    return {
        "format_version": _FORMAT_VERSION,
        "infotrafic_version": __version__,
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "params": json_safe(model.get_params(deep=False)),
        "feature_spec": spec,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "libraries": {
            d: _version_of(d) for d in ("numpy", "pandas", "scikit-learn", "lightgbm", "darts")
        },
    }


def save_forecaster(model: Forecaster, path: PathLike) -> Path:
    """Save a fitted forecaster with its feature spec and library versions (atomic write).

    Parameters
    ----------
    model : Forecaster
        A fitted forecaster.
    path : str or os.PathLike
        Destination file (conventionally ``*.joblib``); replaced atomically.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    NotFittedError
        When a built-in forecaster is not fitted.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> from infotrafic.forecasters import NaiveForecaster, load_forecaster, save_forecaster
    >>> panel = pd.DataFrame({"arc_id": 1, "flow": [1.0, 2.0],
    ...     "time": pd.date_range("2024-01-01 01:00", periods=2, freq="h", tz="UTC")})
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "naive.joblib"
    >>> _ = save_forecaster(NaiveForecaster().fit(panel), out)
    >>> read_forecaster_header(out)["class"]
    'infotrafic.forecasters._naive.NaiveForecaster'
    >>> load_forecaster(out)
    NaiveForecaster()
    """
    if isinstance(model, BaseForecaster):
        model._check_fitted()
    header = json.dumps(_header(model), sort_keys=True).encode("utf-8")

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fh.write(_MAGIC)
            fh.write(header + b"\n")
            joblib.dump(model, fh, compress=3)

    target = atomic_write(path, write)
    return target


def _read_head(fh: io.BufferedReader, name: str) -> dict[str, Any]:
    if fh.readline() != _MAGIC:
        raise FileFormatError(
            "not an infotrafic forecaster file (save it with infotrafic.forecasters."
            "save_forecaster)",
            file=name,
            line=1,
        )
    try:
        header: dict[str, Any] = json.loads(fh.readline().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"corrupt forecaster header: {exc}", file=name, line=2) from exc
    return header


def read_forecaster_header(path: PathLike) -> dict[str, Any]:
    """Read the JSON header of a saved forecaster without unpickling it.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save_forecaster`.

    Returns
    -------
    dict
        ``infotrafic_version``, ``class``, ``params``, ``feature_spec``, ``created``, ...
    """
    with open(path, "rb") as fh:
        return _read_head(fh, str(path))


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def load_forecaster(path: PathLike) -> Forecaster:
    """Load a forecaster saved by :func:`save_forecaster`.

    Parameters
    ----------
    path : str or os.PathLike
        The saved file (only load files you trust: the payload is a pickle).

    Returns
    -------
    Forecaster
        The fitted forecaster.

    Raises
    ------
    ModelCompatibilityError
        When the file was written by another ``major.minor`` version of infotrafic.
    FileFormatError
        When the file is not a saved forecaster.
    """
    name = str(path)
    with open(path, "rb") as fh:
        header = _read_head(fh, name)
        saved = str(header.get("infotrafic_version", "unknown"))
        if _major_minor(saved) != _major_minor(__version__):
            raise ModelCompatibilityError(
                f"{name}: forecaster saved with infotrafic {saved}, this is {__version__} "
                "(major.minor must match); refit and save it again with this version, or load it "
                f"with infotrafic=={saved}"
            )
        if header.get("format_version") != _FORMAT_VERSION:
            raise ModelCompatibilityError(
                f"{name}: unknown forecaster file format {header.get('format_version')!r}"
            )
        try:
            model: Forecaster = joblib.load(fh)
        except Exception as exc:
            raise FileFormatError(f"cannot unpickle the forecaster: {exc}", file=name) from exc
    return model
