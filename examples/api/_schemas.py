"""Request and response models of the API (pydantic): they are the OpenAPI schema."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

import pandas as pd
from common.settings import MODEL_NAME_PATTERN
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

from infotrafic.backtest import parse_time

__all__ = [
    "BacktestResponse",
    "EtlRequest",
    "HealthResponse",
    "IngestRequest",
    "JobAccepted",
    "JobKind",
    "JobState",
    "JobStatus",
    "ForecastRow",
    "ModelInfo",
    "PredictResponse",
    "TrainingRequest",
]

ArcId = int
#: A hyper-parameter value: JSON scalars, strings bounded.
Scalar = bool | int | float | Annotated[str, Field(max_length=256)] | None
ParamName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
#: A path relative to <data_dir>/raw: bounded (a part longer than 255 bytes cannot exist).
RelativeName = Annotated[str, Field(min_length=1, max_length=1024)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Horizon = Annotated[int, Field(ge=1, le=24)]
Level = Annotated[float, Field(gt=0, lt=100)]
TimeText = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="ISO 8601 date or time on the hour; naive values are Europe/Paris "
        "wall-clock time (a time that does not exist or is ambiguous there is refused: give "
        "an offset).",
        examples=["2023-11-01", "2023-10-29T02:00:00+01:00"],
    ),
]


class IngestRequest(_Strict):
    """Fetch hourly counts of some arcs over a time range from the portal into the data dir."""

    arcs: list[ArcId] = Field(
        min_length=1, max_length=500, description="Arc ids (iu_ac).", examples=[[4264, 5672]]
    )
    start: TimeText = Field(
        description="First hour (inclusive), on the hour. Naive values are Europe/Paris "
        "wall-clock time (a time that does not exist or is ambiguous there is refused).",
        examples=["2024-03-01T00:00:00+01:00"],
    )
    end: TimeText = Field(
        description="End of the range (exclusive), on the hour; naive = Europe/Paris time.",
        examples=["2024-03-08T00:00:00+01:00"],
    )
    base_url: AnyHttpUrl | None = Field(
        default=None,
        max_length=512,
        description="Portal root (default INFOTRAFIC_BASE_URL, https://opendata.paris.fr).",
    )

    @model_validator(mode="after")
    def _check(self) -> IngestRequest:
        if any(a <= 0 for a in self.arcs):
            raise ValueError("arcs must be positive integers (iu_ac)")
        start, end = self.bounds()
        if end <= start:
            raise ValueError("end must be after start")
        if end - start > pd.Timedelta(days=400):
            raise ValueError("at most 400 days per ingest; split the range")
        return self

    def bounds(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """``(start, end)`` in UTC, read by the library's time rule (ConfigurationError)."""
        return parse_time(self.start, name="start"), parse_time(self.end, name="end")


class EtlRequest(_Strict):
    """Ingest files already in ``<data_dir>/raw`` into the store (``<data_dir>/processed``)."""

    files: list[RelativeName] | None = Field(
        default=None,
        max_length=1000,
        description="Paths relative to <data_dir>/raw (default: every data file there).",
        examples=[["arc4264_2023.csv.gz"]],
    )


class TrainingRequest(_Strict):
    """Train a forecast model with ``infotrafic.forecasting.train``; ``{}`` uses the defaults."""

    model: str | None = Field(
        default=None,
        pattern=MODEL_NAME_PATTERN,
        description="Forecaster registry name: naive, seasonal_naive, historical_average, gbm, "
        "darts:<ModelClass> (default INFOTRAFIC_DEFAULT_MODEL, gbm).",
    )
    params: dict[ParamName, Scalar] | None = Field(
        default=None,
        max_length=50,
        description="Hyper-parameters of the forecaster (default: INFOTRAFIC_DEFAULT_PARAMS for "
        "the default model, else the library defaults).",
    )
    data: Literal["auto", "sample", "store"] = Field(
        default="auto",
        description="'store': the parquet store in <data_dir>/processed; 'sample': the bundled "
        "real sample (arcs 4264, 5672, 191); 'auto': the store when it holds data, else the "
        "sample.",
    )
    arcs: list[ArcId] | None = Field(
        default=None, max_length=5000, description="Restrict to these arcs (default: all)."
    )
    start: TimeText | None = Field(default=None, description="First training hour (Paris time).")
    end: TimeText | None = Field(
        default=None,
        description="Train on the data before this time (Paris time; default: all the data).",
    )
    horizons: list[Horizon] | None = Field(
        default=None,
        min_length=1,
        max_length=24,
        description="Hours ahead, each from 1 to 24 (default: every hour from 1 to 24).",
        examples=[[1, 6, 24]],
    )
    levels: list[Level] | None = Field(
        default=None,
        min_length=1,
        max_length=5,
        description="Prediction interval levels in percent (default: 80 and 95).",
    )
    backtest_days: int | None = Field(
        default=None,
        ge=0,
        le=90,
        description="Days before the end of the data scored by the validation backtest, which "
        "decides whether the model becomes champion (0: no validation, so it cannot replace a "
        "champion; default INFOTRAFIC_BACKTEST_DAYS, 7).",
    )
    validate_start: TimeText | None = Field(
        default=None, description="Start of the validation window instead of backtest_days."
    )

    @model_validator(mode="after")
    def _check(self) -> TrainingRequest:
        if self.model is not None and self.model.strip(".") == "":
            raise ValueError("model must name a forecaster")
        return self


class JobKind(StrEnum):
    """What a background job does."""

    ingest = "ingest"
    etl = "etl"
    training = "training"


class JobState(StrEnum):
    """Life cycle of a background job."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class JobAccepted(BaseModel):
    """Answer of the job-starting endpoints (HTTP 202)."""

    job_id: str
    kind: JobKind
    status: JobState
    status_url: str = Field(description="Poll this URL for progress and result.")


class JobStatus(BaseModel):
    """Status of a background job."""

    job_id: str
    kind: JobKind
    status: JobState
    progress: float = Field(ge=0.0, le=1.0)
    message: str = ""
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    request: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = Field(
        default=None, description="{'type': ..., 'message': ...} when failed."
    )


class ModelInfo(BaseModel):
    """A trained forecast model of the model store (``<data_dir>/models/<version>``)."""

    version: str
    name: str = Field(description="Forecaster registry name.")
    params: dict[str, Any]
    horizons: list[int]
    levels: list[float]
    targets: list[str] = Field(description="Series forecast: flow, and occupancy for the state.")
    delay: int
    created_at: str = Field(description="When the model was trained (UTC ISO 8601).")
    infotrafic_version: str
    training: dict[str, Any] = Field(description="Training window, rows, arcs, data fingerprint.")
    saved_at: str = Field(description="When the store received it; listings are newest first.")
    metrics: dict[str, Any] | None = Field(
        default=None, description="Validation metrics (MAE per horizon, coverage, state F1)."
    )
    source: str | None = None
    arcs: list[int] | None = None
    mlflow: dict[str, Any] | None = None
    champion: bool = Field(default=False, description="The model store's champion.")


class ForecastRow(BaseModel):
    """One arc at one horizon (the columns of ``infotrafic.forecasting.forecast``)."""

    model_config = ConfigDict(extra="allow")

    arc_id: int
    time: dt.datetime = Field(description="End of the forecast counting hour (UTC).")
    horizon: int = Field(description="Hours after issued_at.")
    flow: float | None = Field(description="Forecast flow, vehicles/hour (null when stale).")
    lo_80: float | None = Field(default=None, description="80 % prediction interval, low end.")
    hi_80: float | None = Field(default=None, description="80 % prediction interval, high end.")
    lo_95: float | None = Field(default=None, description="95 % prediction interval, low end.")
    hi_95: float | None = Field(default=None, description="95 % prediction interval, high end.")
    occupancy: float | None = Field(default=None, description="Forecast occupancy (%).")
    state: str | None = Field(
        default=None, description="Most probable traffic state: Fluide, Pré-saturé, Saturé, Bloqué."
    )
    state_probability: float | None = Field(default=None, ge=0, le=1)
    stale: bool = Field(description="The arc's data stopped too long before: no numbers.")


class PredictResponse(BaseModel):
    """Forecasts of many arcs at every horizon of the served model, in one answer."""

    model: str = Field(description="Forecaster registry name.")
    model_version: str = Field(
        description="Model store version, or '<registered name>/<version>' from MLflow."
    )
    registry: Literal["store", "mlflow"] = Field(description="Where the served model comes from.")
    champion: bool = Field(description="The served model is the champion.")
    source: Literal["sample", "store"] = Field(description="Data the forecasts start from.")
    issued_at: dt.datetime | None = Field(
        description="Issue time (UTC): forecasts cover issued_at + horizon hours."
    )
    data_time: dt.datetime | None = Field(
        description="Newest hour of data used (issued_at minus the model's publication delay)."
    )
    levels: list[float] = Field(description="Interval levels: lo_<L>/hi_<L> in each row.")
    horizons: list[int] = Field(description="Horizons answered.")
    unit: str = "vehicles/hour"
    warnings: list[str] = Field(
        default_factory=list, description="E.g. an arc not in the data (it has no row)."
    )
    forecasts: list[ForecastRow]


class BacktestResponse(BaseModel):
    """The validation backtest report saved with a trained model."""

    model: str
    model_version: str
    metrics: dict[str, Any]
    report: dict[str, Any]


class HealthResponse(BaseModel):
    """Liveness and a summary of the state."""

    status: Literal["ok"]
    version: str
    latest_model: str | None = Field(description="Newest version of the model store.")
    champion: str | None = Field(description="Champion version of the model store.")
    mlflow: bool = Field(description="Trainings are registered in MLflow and its champion served.")
    jobs: dict[str, int]
