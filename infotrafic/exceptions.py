"""One error tree for the whole library.

Every error raised on purpose by infotrafic derives from :class:`InfotraficError`, so callers can
catch "any infotrafic error" in one ``except`` clause. Third-party errors (httpx, pyarrow, ...) are
translated once, at the layer that calls them, with ``raise ... from exc``.

::

    InfotraficError
    ├── ConfigurationError            bad settings or arguments (also ValueError)
    ├── DataValidationError           data breaks the canonical contract (also ValueError)
    │   ├── FileFormatError           a file cannot be read at all (names file, line, field)
    │   └── IngestError               some files loaded nothing; the others were ingested
    ├── StoreError                    the local parquet store is unusable or locked
    ├── OpenDataError                 anything that goes wrong talking to the portal
    │   ├── TransportError            connection failures, timeouts, cut bodies (after retries)
    │   ├── QueryError                400: the portal rejected the query (carries its message)
    │   ├── QuotaExceededError        429: quota exhausted beyond the allowed wait
    │   ├── ServerError               5xx after the retry budget
    │   └── IncompleteFetchError      slices not proven complete, so not recorded as done
    ├── NotFittedError                predict() before fit() (also AttributeError, ValueError)
    ├── ModelCompatibilityError       a saved forecaster from an incompatible version
    ├── TrackingError                 the MLflow tracking store or model registry failed
    ├── BacktestError                 an impossible backtest schedule or empty scoring window
    ├── ClusterError                  a Dask scheduler cannot be reached, or has no worker
    └── ForecasterCheckError          a forecaster failed a contract check (also AssertionError)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "BacktestError",
    "ClusterError",
    "ConfigurationError",
    "DataValidationError",
    "FileFormatError",
    "ForecasterCheckError",
    "IncompleteFetchError",
    "InfotraficError",
    "IngestError",
    "ModelCompatibilityError",
    "NotFittedError",
    "OpenDataError",
    "QueryError",
    "QuotaExceededError",
    "ServerError",
    "StoreError",
    "TrackingError",
    "TransportError",
]


class InfotraficError(Exception):
    """Root of every error raised on purpose by infotrafic."""


class ConfigurationError(InfotraficError, ValueError):
    """Settings or arguments are invalid (names the setting and the fix)."""


class DataValidationError(InfotraficError, ValueError):
    """Data does not satisfy the canonical contract.

    Parameters
    ----------
    message : str
        What is wrong and how to fix it.
    file : str, optional
        The file the data came from, when known.
    line : int, optional
        The 1-based line (or record) number in that file, when known.
    field : str, optional
        The column or field at fault, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        where = []
        if file is not None:
            where.append(str(file))
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class FileFormatError(DataValidationError):
    """A file cannot be read as any known regime of the dataset."""


class IngestError(DataValidationError):
    """Some input files loaded nothing (unreadable, truncated, no usable row).

    Raised after the other files were ingested, so that a run never ends as if all went well.

    Parameters
    ----------
    message : str
        One line: how many files failed, and the first failure.
    errors : sequence of str
        One line per failed file, naming it and the problem.
    result : object, optional
        What was done anyway (the store's ``IngestSummary`` or a report).
    """

    def __init__(self, message: str, *, errors: Sequence[str], result: Any = None) -> None:
        self.errors = tuple(errors)
        self.result = result
        super().__init__(message)


class StoreError(InfotraficError):
    """The local parquet store cannot be read or written."""


class OpenDataError(InfotraficError):
    """Something went wrong while talking to the open-data portal."""


class TransportError(OpenDataError):
    """The connection failed, timed out or a body was cut short, after all retries."""


class QueryError(OpenDataError):
    """The portal rejected the query (HTTP 400); ``server_message`` holds its explanation.

    Parameters
    ----------
    message : str
        Human-readable description.
    server_message : str, optional
        The ``message`` field of the portal's error body.
    error_code : str, optional
        The ``error_code`` field of the portal's error body (e.g. ``ODSQLError``).
    """

    def __init__(
        self, message: str, *, server_message: str | None = None, error_code: str | None = None
    ) -> None:
        self.server_message = server_message
        self.error_code = error_code
        super().__init__(message)


class QuotaExceededError(OpenDataError):
    """The portal's quota is exhausted (HTTP 429) and the reset is beyond the allowed wait.

    Parameters
    ----------
    message : str
        Human-readable description.
    reset_time : str, optional
        When the quota resets, as announced by the portal.
    call_limit : int, optional
        The quota announced by the portal.
    """

    def __init__(
        self, message: str, *, reset_time: str | None = None, call_limit: int | None = None
    ) -> None:
        self.reset_time = reset_time
        self.call_limit = call_limit
        super().__init__(message)


class ServerError(OpenDataError):
    """The portal kept answering 5xx until the retry budget was spent."""


class IncompleteFetchError(OpenDataError):
    """Slices were downloaded but could not be proven complete, so they are not recorded as done.

    Their well-formed rows were kept; running the same fetch again downloads them again.

    Parameters
    ----------
    message : str
        Human-readable description naming the slices.
    slices : sequence of str
        One line per slice: its label and why it could not be verified.
    result : object, optional
        What the fetch returned anyway (its ``FetchSummary``, or the panel without a store).
    """

    def __init__(self, message: str, *, slices: Sequence[str], result: Any = None) -> None:
        self.slices = tuple(slices)
        self.result = result
        super().__init__(message)


class NotFittedError(InfotraficError, AttributeError, ValueError):
    """A forecaster was used before :meth:`fit` was called."""


class ModelCompatibilityError(InfotraficError):
    """A saved forecaster was written by an incompatible version of infotrafic."""


class TrackingError(InfotraficError):
    """The MLflow tracking store or model registry failed (names the store and the cause)."""


class BacktestError(InfotraficError, ValueError):
    """The backtest cannot run as configured (empty window, impossible schedule, ...)."""


class ClusterError(InfotraficError):
    """A Dask scheduler cannot be reached or has no worker (names the address and the fix).

    Parameters
    ----------
    message : str
        What failed and how to fix it.
    address : str, optional
        The scheduler address (or ``local:N``) that was asked for.
    """

    def __init__(self, message: str, *, address: str | None = None) -> None:
        self.address = address
        super().__init__(message)


class ForecasterCheckError(InfotraficError, AssertionError):
    """A forecaster failed a contract check (:func:`infotrafic.testing.check_forecaster`).

    The message names the forecaster, the check and the fix.
    """
