"""infotrafic API: ingest, ETL, training jobs and forecasts 1-24 h ahead over HTTP.

Start it from the repository root with the launcher (it refuses a non-loopback address when no
token is configured, unless ``--insecure``)::

    INFOTRAFIC_API_TOKEN=... python examples/api/serve.py --host 0.0.0.0 --port 8000

or, on loopback, ``uvicorn app:app --app-dir examples/api --host 127.0.0.1 --port 8000``.

Configuration comes from ``INFOTRAFIC_*`` environment variables (see ``common/settings.py``):
``INFOTRAFIC_DATA_DIR`` (default ``data``: ``raw/``, ``processed/``, ``models/``, ``jobs/``
inside), ``INFOTRAFIC_API_TOKEN`` / ``INFOTRAFIC_API_TOKEN_FILE`` (bearer tokens, required on
writes and ``/jobs``), ``INFOTRAFIC_MLFLOW_URI`` ... Run a single worker: the job queue lives in
the process (its records in ``<data_dir>/jobs``). Training and forecasting are the library's
(:func:`infotrafic.forecasting.train` and :func:`infotrafic.forecasting.forecast`); the API
serves the champion model (MLflow's alias ``champion`` when tracking is on, else the model
store's).
"""

# No "from __future__ import annotations": the routes' dependencies are local to create_app
# and FastAPI must see their annotations as objects.
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

from _jobs import JOB_ID_PATTERN, JobManager, QueueFullError  # noqa: E402
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
from _security import RequestGuard, TokenAuth, load_tokens  # noqa: E402
from _service import (  # noqa: E402
    ForecastUnavailableError,
    NoModelError,
    NothingToLoadError,
    Service,
)
from common.settings import MODEL_NAME_PATTERN, ExampleSettings  # noqa: E402
from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request  # noqa: E402
from fastapi import Path as PathParam  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.middleware.cors import CORSMiddleware  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer  # noqa: E402
from pydantic import Field, ValidationError  # noqa: E402
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
_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid bearer token (header WWW-Authenticate: Bearer)."}
}
_WRITE: dict[int | str, dict[str, Any]] = {
    **_AUTH,
    413: {"description": "Request body too large (INFOTRAFIC_API_MAX_BODY)."},
    415: {"description": "The body must be JSON: Content-Type: application/json."},
    429: {"description": "Too many jobs wait to run; retry after Retry-After seconds."},
}


def create_app(settings: ExampleSettings | None = None) -> FastAPI:
    """Build the FastAPI application (settings read from the environment by default)."""
    settings = settings or ExampleSettings()
    auth = TokenAuth(load_tokens(settings))
    if not auth.enabled:
        log.warning(
            "no API token configured (INFOTRAFIC_API_TOKEN): the API answers on loopback only"
            + (", INSECURE: on every address" if settings.api_insecure else "")
        )

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
            "validation window.\n\nAuthentication: `Authorization: Bearer <token>` on every "
            "write and on `/jobs` (and on the reads when `INFOTRAFIC_API_OPEN_READS=false`); "
            "writes take only `application/json`. A caller sees and cancels only its own jobs."
        ),
        lifespan=lifespan,
    )
    service = Service(settings)
    app.state.service = service
    app.state.auth = auth
    app.state.jobs = JobManager(
        service.data_dir / "jobs",
        workers=settings.job_workers,
        max_queued=settings.api_max_queued,
        clean_error=service.clean_error,
    )
    recovered = app.state.jobs.recover(service.job_for)
    if recovered["loaded"]:
        log.warning("job records read back: %s", recovered)
    if settings.api_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.api_cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(
        RequestGuard,
        max_body=settings.api_max_body,
        tokens_configured=auth.enabled,
        insecure=settings.api_insecure,
    )
    _add_error_handlers(app, service)
    _add_routes(app, settings)
    return app


def _message(
    status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(status_code=status, content={"message": message, **extra}, headers=headers)


def _add_error_handlers(app: FastAPI, service: Service) -> None:
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
        text = f"{type(exc).__name__}: {service.clean_error(exc)}"
        if isinstance(exc, TrackingError):
            return _message(503, text)
        return _message(422 if isinstance(exc, ValueError) else 500, text)

    @app.exception_handler(QueueFullError)
    async def _busy(request: Request, exc: QueueFullError) -> JSONResponse:
        return _message(429, str(exc), headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _message(500, "internal error (the server log has the details)")


def _accepted(job: JobStatus) -> JSONResponse:
    body = JobAccepted(
        job_id=job.job_id, kind=job.kind, status=job.status, status_url=f"/jobs/{job.job_id}"
    )
    return JSONResponse(
        status_code=202, content=body.model_dump(mode="json"), headers={"Location": body.status_url}
    )


def _add_routes(app: FastAPI, settings: ExampleSettings) -> None:
    service: Service = app.state.service
    jobs: JobManager = app.state.jobs
    auth: TokenAuth = app.state.auth

    if auth.enabled:
        bearer = HTTPBearer(
            auto_error=False,
            scheme_name="bearerAuth",
            description="A token of INFOTRAFIC_API_TOKEN / INFOTRAFIC_API_TOKEN_FILE.",
        )

        def caller(
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        ) -> str:
            return auth.caller(None if credentials is None else credentials.credentials)

    else:  # loopback only (RequestGuard): one local client, no security scheme to declare

        def caller() -> str:
            return auth.caller(None)

    Caller = Annotated[str, Depends(caller)]
    reads_open = settings.api_open_reads or not auth.enabled
    read_deps = [] if reads_open else [Depends(caller)]
    read_errors = {} if reads_open else _AUTH
    write_errors = {**_ERRORS, **(_WRITE if auth.enabled else {})}
    for status in (413, 415, 429):
        write_errors[status] = _WRITE[status]

    def submit(kind: JobKind, body: dict[str, Any], who: str) -> JSONResponse:
        try:
            work, on_success = service.job_for(kind, body)
        except FileNotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        except NothingToLoadError as exc:
            raise HTTPException(409, str(exc)) from exc
        except ValidationError as exc:  # already validated by FastAPI: kept for safety
            raise HTTPException(422, service.clean_error(exc)) from exc
        except ValueError as exc:
            if isinstance(exc, InfotraficError):
                raise
            raise HTTPException(422, f"files: {exc}") from exc
        return _accepted(jobs.submit(kind, body, work, owner=who, on_success=on_success))

    @app.get("/health", response_model=HealthResponse, tags=["status"])
    def health() -> HealthResponse:
        """Liveness, library version, newest and champion models, job counts (always open)."""
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
        responses=write_errors,
        tags=["jobs"],
    )
    def ingest(request: IngestRequest, who: Caller) -> JSONResponse:
        """Fetch arcs over a time range from the portal (or ``base_url``) into raw/ and the store.

        Starts a background job; poll ``GET /jobs/{job_id}``. ``start`` and ``end`` follow the
        library's time rule (naive = Paris time; a time that does not exist or is ambiguous
        there, or is out of range, is refused with 422).
        """
        return submit(JobKind.ingest, request.model_dump(mode="json"), who)

    @app.post(
        "/etl",
        status_code=202,
        response_model=JobAccepted,
        responses={**write_errors, 409: {"description": "No data files in <data_dir>/raw."}},
        tags=["jobs"],
    )
    def etl(who: Caller, request: Annotated[EtlRequest | None, Body()] = None) -> JSONResponse:
        """Ingest files already in ``<data_dir>/raw`` into the parquet store (background job).

        ``files`` are paths relative to ``<data_dir>/raw``; anything resolving outside it
        (symlinks included) is rejected with 422. An empty body takes every data file there,
        skipping links that lead outside (their names are in the job's ``result.skipped``).
        """
        return submit(JobKind.etl, (request or EtlRequest()).model_dump(mode="json"), who)

    @app.post(
        "/training",
        status_code=202,
        response_model=JobAccepted,
        responses=write_errors,
        tags=["jobs"],
    )
    def training(
        who: Caller, request: Annotated[TrainingRequest | None, Body()] = None
    ) -> JSONResponse:
        """Train a forecast model with ``infotrafic.forecasting.train`` (background job).

        One forecaster per horizon (1-24 h by default) for the flow, and for the occupancy
        (traffic state) when the data has it, with calibrated 80/95 % intervals; validated by
        a backtest over the last ``backtest_days`` days; saved as a model directory in
        ``<data_dir>/models``. When MLflow tracking is on (default: a local store in the data
        dir) the model is registered and the alias ``champion`` moves to it only when it is
        not worse than the champion on the same validation window; the model store's champion
        follows the same rule. An empty body ``{}`` trains the default model on ``auto`` data
        (the store, or the bundled sample when the store is empty). The model name, its
        ``params`` (names and types, from the forecaster's signature) and the times are
        checked before the job is queued (422). Trainings run one at a time.
        """
        resolved = service.resolve_training(request or TrainingRequest())
        return submit(JobKind.training, resolved.model_dump(mode="json"), who)

    @app.get("/jobs", response_model=list[JobStatus], responses=_AUTH, tags=["jobs"])
    def list_jobs(who: Caller) -> list[JobStatus]:
        """The caller's jobs (those submitted with its token), newest first."""
        return jobs.list(who)

    @app.get(
        "/jobs/{job_id}", response_model=JobStatus, responses={**_ERRORS, **_AUTH}, tags=["jobs"]
    )
    def job_status(
        job_id: Annotated[str, PathParam(pattern=JOB_ID_PATTERN)], who: Caller
    ) -> JobStatus:
        """Status (queued/running/succeeded/failed/cancelled), progress, result or error."""
        job = jobs.get(job_id, who)
        if job is None:
            raise HTTPException(404, f"no job {job_id} of yours")
        return job

    @app.delete(
        "/jobs/{job_id}",
        response_model=JobStatus,
        responses={**_ERRORS, **_AUTH},
        tags=["jobs"],
    )
    def cancel_job(
        job_id: Annotated[str, PathParam(pattern=JOB_ID_PATTERN)], who: Caller
    ) -> JobStatus:
        """Cancel a job: a queued one at once, a running one at its next step.

        Answers the job's status (``cancelled``, or ``running`` with the cancel requested; a
        finished job is left as it is).
        """
        job = jobs.cancel(job_id, who)
        if job is None:
            raise HTTPException(404, f"no job {job_id} of yours")
        return job

    @app.get(
        "/predict",
        response_model=PredictResponse,
        response_model_exclude_none=False,
        responses={**_ERRORS, **_NO_MODEL, **read_errors},
        dependencies=read_deps,
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
        responses={**_ERRORS, **_NO_MODEL, **read_errors},
        dependencies=read_deps,
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

    @app.get(
        "/models",
        response_model=list[ModelInfo],
        responses=read_errors,
        dependencies=read_deps,
        tags=["forecasts"],
    )
    def models() -> list[ModelInfo]:
        """Trained models of the model store, newest first (``champion``: the store's)."""
        champion = service.models.champion()
        best = None if champion is None else champion.version
        records = service.models.records()
        return [ModelInfo(**r.to_dict(), champion=r.version == best) for r in records]


app = create_app()
