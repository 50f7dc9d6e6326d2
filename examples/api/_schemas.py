"""Request and response models of the API (pydantic): they are the OpenAPI schema."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Literal

from common.settings import MODEL_NAME_PATTERN
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "BacktestResponse",
    "EtlRequest",
    "HealthResponse",
    "IngestRequest",
    "JobAccepted",
    "JobKind",
    "JobState",
    "JobStatus",
    "ModelInfo",
    "PredictResponse",
    "TrainingRequest",
]

ArcId = int
Scalar = bool | int | float | str | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IngestRequest(_Strict):
    """Fetch hourly counts of some arcs over a time range from the portal into the data dir."""

    arcs: list[ArcId] = Field(
        min_length=1, max_length=500, description="Arc ids (iu_ac).", examples=[[4264, 5672]]
    )
    start: dt.datetime = Field(
        description="First hour (inclusive). Naive values are Europe/Paris wall-clock time.",
        examples=["2024-03-01T00:00:00+01:00"],
    )
    end: dt.datetime = Field(
        description="End of the range (exclusive). Naive values are Europe/Paris wall-clock.",
        examples=["2024-03-08T00:00:00+01:00"],
    )
    base_url: AnyHttpUrl | None = Field(
        default=None,
        description="Portal root (default INFOTRAFIC_BASE_URL, https://opendata.paris.fr).",
    )

    @model_validator(mode="after")
    def _check(self) -> IngestRequest:
        if any(a <= 0 for a in self.arcs):
            raise ValueError("arcs must be positive integers (iu_ac)")
        start, end = _aware(self.start), _aware(self.end)
        if end <= start:
            raise ValueError("end must be after start")
        if end - start > dt.timedelta(days=400):
            raise ValueError("at most 400 days per ingest; split the range")
        return self


class EtlRequest(_Strict):
    """Ingest files already in ``<data_dir>/raw`` into the store (``<data_dir>/processed``)."""

    files: list[str] | None = Field(
        default=None,
        max_length=10_000,
        description="Paths relative to <data_dir>/raw (default: every data file there).",
        examples=[["arc4264_2023.csv.gz"]],
    )


class TrainingRequest(_Strict):
    """Fit a forecaster; an empty body ``{}`` fits ``gbm`` on the bundled sample."""

    model: str | None = Field(
        default=None,
        pattern=MODEL_NAME_PATTERN,
        description="Forecaster registry name: naive, seasonal_naive, historical_average, gbm, "
        "darts:<ModelClass> (default INFOTRAFIC_DEFAULT_MODEL, gbm).",
    )
    params: dict[str, Scalar] | None = Field(
        default=None,
        max_length=50,
        description="Hyper-parameters of the forecaster (default: INFOTRAFIC_DEFAULT_PARAMS for "
        "the default model, else the library defaults).",
    )
    data: Literal["sample", "store"] = Field(
        default="sample",
        description="'sample': the bundled real sample (arcs 4264, 5672, 191); 'store': the "
        "parquet store in <data_dir>/processed.",
    )
    arcs: list[ArcId] | None = Field(
        default=None, max_length=5000, description="Restrict to these arcs (default: all)."
    )
    start: dt.datetime | None = Field(default=None, description="First training hour.")
    end: dt.datetime | None = Field(default=None, description="End of training data (exclusive).")
    backtest_days: int | None = Field(
        default=None,
        ge=0,
        le=90,
        description="Days scored by the short backtest run after fitting (0: skip; default "
        "INFOTRAFIC_BACKTEST_DAYS, 7).",
    )

    @model_validator(mode="after")
    def _check(self) -> TrainingRequest:
        if self.model is not None and self.model.strip(".") == "":
            raise ValueError("model must name a forecaster")
        if (
            self.start is not None
            and self.end is not None
            and _aware(self.end) <= _aware(self.start)
        ):
            raise ValueError("end must be after start")
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
    """A trained forecaster of the model store."""

    version: str
    name: str
    params: dict[str, Any]
    source: str
    arcs: list[int]
    data_start: str | None
    data_end: str | None
    n_rows: int
    created_at: str
    horizon: int
    delay: int
    fit_seconds: float | None = None
    metrics: dict[str, float]
    has_backtest: bool
    mlflow_run_id: str | None = None
    mlflow_error: str | None = None


class PredictResponse(BaseModel):
    """One-hour-ahead flow forecast of one arc."""

    arc_id: int
    target_time: dt.datetime = Field(
        description="End of the forecast counting hour (UTC), like the data's t_1h."
    )
    data_time: dt.datetime = Field(
        description="Newest hour of data the forecast rests on (UTC, end of hour)."
    )
    value: float = Field(description="Forecast flow, vehicles/hour.")
    unit: str = "vehicles/hour"
    model: str
    model_version: str
    lead_hours: int


class BacktestResponse(BaseModel):
    """The short backtest report saved with a trained model."""

    model: str
    model_version: str
    metrics: dict[str, float]
    report: dict[str, Any]


class HealthResponse(BaseModel):
    """Liveness and a summary of the state."""

    status: Literal["ok"]
    version: str
    latest_model: str | None
    jobs: dict[str, int]


def _aware(value: dt.datetime) -> dt.datetime:
    """Naive datetimes are Europe/Paris wall-clock time, as everywhere in infotrafic."""
    if value.tzinfo is None:
        from zoneinfo import ZoneInfo

        return value.replace(tzinfo=ZoneInfo("Europe/Paris"))
    return value
