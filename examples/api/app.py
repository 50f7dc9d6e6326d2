"""infotrafic API: ingest, ETL, training jobs and forecasts 1-24 h ahead over HTTP.

Start it from the repository root::

    uvicorn app:app --app-dir examples/api --host 127.0.0.1 --port 8000

Configuration comes from ``INFOTRAFIC_*`` environment variables (see ``common/settings.py``):
``INFOTRAFIC_DATA_DIR`` (default ``data``: ``raw/``, ``processed/``, ``models/`` inside),
``INFOTRAFIC_BASE_URL``, ``INFOTRAFIC_MLFLOW_URI``, ``INFOTRAFIC_MLFLOW_ENABLED`` ... Run a single
worker: jobs are tracked in the process memory. Training and forecasting are the library's
(:func:`infotrafic.forecasting.train` and :func:`infotrafic.forecasting.forecast`); the API
serves the champion model (MLflow's alias ``champion`` when tracking is on, else the model
store's).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

_HERE = Path(__file__).resolve().parent
for _p in (_HERE, _HERE.parent):  # examples/api (this app) and examples/ (``common``)
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from _jobs import JOB_ID_PATTERN, JobManager  # noqa: E402
from _schemas import (  # noqa: E402
    BacktestResponse,
    EtlRequest,
    HealthResponse,
    IngestRequest,
    JobAccepted,
    JobKind,
    JobStatus,
    ModelInfo,
    PredictResponse,
    TrainingRequest,
)
from _service import (  # noqa: E402
    ForecastUnavailableError,
    NoModelError,
    Service,
)
from common.settings import MODEL_NAME_PATTERN, ExampleSettings  # noqa: E402
from fastapi import Body, FastAPI, HTTPException, Query, Request  # noqa: E402
from fastapi import Path as PathParam  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from pydantic import Field  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

import infotrafic  # noqa: E402
from infotrafic import InfotraficError  # noqa: E402
from infotrafic.exceptions import TrackingError  # noqa: E402

log = logging.getLogger("infotrafic.api")

ArcQuery = Annotated[int, Field(ge=1, le=2**31 - 1)]
HorizonQuery = Annotated[int, Field(ge=1, le=24)]

_NO_MODEL: dict[int | str, dict[str, Any]] = {
    409: {"description": "No model trained yet: POST /training first."}
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown job or report."},
    422: {"description": "Invalid input; 'message' says what and how to fix it."},
}


def create_app(settings: ExampleSettings | None = None) -> FastAPI:
    """Build the FastAPI application (settings read from the environment by default)."""
    settings = settings or ExampleSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.jobs.shutdown()

    app = FastAPI(
        title="infotrafic API",
        version=infotrafic.__version__,
        description=(
            "Road traffic forecasts for Paris, 1 to 24 hours ahead, from the City of Paris open "
            "data: flow (vehicles/hour) with 80/95 % prediction intervals, occupancy and the "
            "traffic state (Fluide, Pré-saturé, Saturé, Bloqué) with its probability, made by "
            "`infotrafic.forecasting`. Data: Ville de Paris — comptages routiers permanents "
            "(opendata.paris.fr), ODbL.\n\nQuick start: `POST /training` with `{}` (trains "
            "`gbm` on the store, or the bundled sample when the store is empty), poll "
            "`GET /jobs/{id}`, then `GET /predict?arc_id=4264&arc_id=5672`. The API serves the "
            "champion: a new model replaces it only when it is not worse on the same "
            "validation window."
        ),
        lifespan=lifespan,
    )
    app.state.service = Service(settings)
    app.state.jobs = JobManager(settings.job_workers)
    _add_error_handlers(app)
    _add_routes(app)
    return app


def _message(
    status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(status_code=status, content={"message": message, **extra}, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        parts = []
        for err in errors[:5]:
            loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
            parts.append(f"{loc}: {err.get('msg', 'invalid')}")
        detail = [{k: v for k, v in err.items() if k in ("type", "loc", "msg")} for err in errors]
        return _message(422, "invalid request: " + "; ".join(parts), detail=detail)

    @app.exception_handler(NoModelError)
    async def _no_model(request: Request, exc: NoModelError) -> JSONResponse:
        return _message(409, str(exc))

    @app.exception_handler(ForecastUnavailableError)
    async def _no_forecast(request: Request, exc: ForecastUnavailableError) -> JSONResponse:
        return _message(422, str(exc))

    @app.exception_handler(StarletteHTTPException)  # also routing's 404/405
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _message(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(InfotraficError)
    async def _library(request: Request, exc: InfotraficError) -> JSONResponse:
        if isinstance(exc, TrackingError):
            return _message(503, f"{type(exc).__name__}: {exc}")
        status = 422 if isinstance(exc, ValueError) else 500
        return _message(status, f"{type(exc).__name__}: {exc}")


def _accepted(job: JobStatus) -> JSONResponse:
    body = JobAccepted(
        job_id=job.job_id, kind=job.kind, status=job.status, status_url=f"/jobs/{job.job_id}"
    )
    return JSONResponse(
        status_code=202, content=body.model_dump(mode="json"), headers={"Location": body.status_url}
    )


def _add_routes(app: FastAPI) -> None:
    service: Service = app.state.service
    jobs: JobManager = app.state.jobs

    @app.get("/health", response_model=HealthResponse, tags=["status"])
    def health() -> HealthResponse:
        """Liveness, library version, newest and champion models, job counts."""
        latest = service.models.latest()
        champion = service.models.champion()
        return HealthResponse(
            status="ok",
            version=infotrafic.__version__,
            latest_model=None if latest is None else latest.version,
            champion=None if champion is None else champion.version,
            mlflow=service.mlflow_serving(),
            jobs=jobs.counts(),
        )

    @app.post(
        "/ingest",
        status_code=202,
        response_model=JobAccepted,
        responses=_ERRORS,
        tags=["jobs"],
    )
    def ingest(request: IngestRequest) -> JSONResponse:
        """Fetch arcs over a time range from the portal (or ``base_url``) into raw/ and the store.

        Starts a background job; poll ``GET /jobs/{job_id}``.
        """
        service.allowed_base_url(request)
        job = jobs.submit(
            JobKind.ingest,
            request.model_dump(mode="json"),
            lambda progress: service.run_ingest(request, progress),
            on_success=service.data_changed,
        )
        return _accepted(job)

    @app.post(
        "/etl",
        status_code=202,
        response_model=JobAccepted,
        responses={**_ERRORS, 409: {"description": "No data files in <data_dir>/raw."}},
        tags=["jobs"],
    )
    def etl(request: Annotated[EtlRequest | None, Body()] = None) -> JSONResponse:
        """Ingest files already in ``<data_dir>/raw`` into the parquet store (background job).

        ``files`` are paths relative to ``<data_dir>/raw``; anything resolving outside it is
        rejected with 422. An empty body takes every data file there.
        """
        request = request or EtlRequest()
        try:
            files = service.etl_files(request)
        except FileNotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, f"files: {exc}") from exc
        if not files:
            raise HTTPException(
                409, "no data files in <data_dir>/raw: POST /ingest or copy files there first"
            )
        job = jobs.submit(
            JobKind.etl,
            request.model_dump(mode="json"),
            lambda progress: service.run_etl(files, progress),
            on_success=service.data_changed,
        )
        return _accepted(job)

    @app.post(
        "/training",
        status_code=202,
        response_model=JobAccepted,
        responses=_ERRORS,
        tags=["jobs"],
    )
    def training(request: Annotated[TrainingRequest | None, Body()] = None) -> JSONResponse:
        """Train a forecast model with ``infotrafic.forecasting.train`` (background job).

        One forecaster per horizon (1-24 h by default) for the flow, and for the occupancy
        (traffic state) when the data has it, with calibrated 80/95 % intervals; validated by
        a backtest over the last ``backtest_days`` days; saved as a model directory in
        ``<data_dir>/models``. When MLflow tracking is on (default: a local store in the data
        dir) the model is registered and the alias ``champion`` moves to it only when it is
        not worse than the champion on the same validation window; the model store's champion
        follows the same rule. An empty body ``{}`` trains the default model on ``auto`` data
        (the store, or the bundled sample when the store is empty).
        """
        request = service.resolve_training(request or TrainingRequest())
        job = jobs.submit(
            JobKind.training,
            request.model_dump(mode="json"),
            lambda progress: service.run_training(request, progress),
        )
        return _accepted(job)

    @app.get("/jobs", response_model=list[JobStatus], tags=["jobs"])
    def list_jobs() -> list[JobStatus]:
        """Every job of this server process, newest first."""
        return jobs.list()

    @app.get("/jobs/{job_id}", response_model=JobStatus, responses=_ERRORS, tags=["jobs"])
    def job_status(job_id: Annotated[str, PathParam(pattern=JOB_ID_PATTERN)]) -> JobStatus:
        """Status (queued/running/succeeded/failed), progress, and result or error of a job."""
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id} (jobs are kept in this server's memory)")
        return job

    @app.get(
        "/predict",
        response_model=PredictResponse,
        response_model_exclude_none=False,
        responses={**_ERRORS, **_NO_MODEL},
        tags=["forecasts"],
    )
    def predict(
        arc_id: Annotated[
            list[ArcQuery] | None,
            Query(
                max_length=5000,
                description="Arc id (iu_ac), repeatable: ?arc_id=4264&arc_id=5672. Default: "
                "every arc in the data. An arc not in the data gives a warning and no row.",
            ),
        ] = None,
        horizon: Annotated[
            list[HorizonQuery] | None,
            Query(
                max_length=24,
                description="Hours ahead, repeatable (default: every horizon of the model).",
            ),
        ] = None,
        at: Annotated[
            str | None,
            Query(
                max_length=64,
                description="Issue time, on the hour (ISO 8601; naive = Europe/Paris "
                "wall-clock time; a time that does not exist or is ambiguous there is "
                "refused: give an offset). Forecasts use the data up to this time and cover "
                "at + horizon. Default: the newest hour in the data.",
                examples=["2023-11-30T08:00:00", "2023-10-29T02:00:00+01:00"],
            ),
        ] = None,
        model: Annotated[
            str | None,
            Query(
                pattern=MODEL_NAME_PATTERN,
                description="Forecaster name: its newest model instead of the champion.",
            ),
        ] = None,
        data: Annotated[
            Literal["auto", "sample", "store"],
            Query(description="Data to forecast from ('auto': the store when it has data)."),
        ] = "auto",
    ) -> PredictResponse:
        """Forecasts of many arcs at every horizon, by ``infotrafic.forecasting.forecast``.

        One row per arc and horizon: flow (vehicles/hour) with its ``lo_80``/``hi_80`` and
        ``lo_95``/``hi_95`` interval, occupancy, the traffic state and its probability, and
        ``stale`` (the arc's data stopped too long before: no numbers). The model is the
        champion (MLflow's when tracking is on, else the model store's). Answers 409 until a
        model is trained (``POST /training``); 422 for an invalid ``at`` (not on the hour,
        missing or ambiguous in Paris, after the newest data) or a horizon the model does not
        forecast.
        """
        return service.predict(arc_id, horizon, at, model, data)

    @app.get(
        "/backtest",
        response_model=BacktestResponse,
        responses={**_ERRORS, **_NO_MODEL},
        tags=["forecasts"],
    )
    def latest_backtest(
        model: Annotated[
            str | None,
            Query(
                pattern=MODEL_NAME_PATTERN,
                description="Forecaster name: its newest model instead of the champion.",
            ),
        ] = None,
    ) -> BacktestResponse:
        """The validation backtest report of the served model (per horizon, intervals, state)."""
        served = service.served(model)
        if served.model.validation is None:
            raise HTTPException(
                404, f"model {served.version} was trained without validation (backtest_days 0)"
            )
        return BacktestResponse(
            model=served.model.model,
            model_version=served.version,
            metrics=served.model.metrics or {},
            report=served.model.validation,
        )

    @app.get("/models", response_model=list[ModelInfo], tags=["forecasts"])
    def models() -> list[ModelInfo]:
        """Trained models of the model store, newest first (``champion``: the store's)."""
        champion = service.models.champion()
        best = None if champion is None else champion.version
        records = service.models.records()
        return [ModelInfo(**r.to_dict(), champion=r.version == best) for r in records]


app = create_app()
