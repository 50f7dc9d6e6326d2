"""Settings of the examples: infotrafic's :class:`~infotrafic.Settings` plus a few app knobs."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, SecretStr

from infotrafic import Settings

__all__ = ["MODEL_NAME_PATTERN", "ExampleSettings"]

#: Allowed forecaster names (registry names such as ``gbm`` or ``darts:NBEATSModel``).
MODEL_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$"
MODEL_NAME_RE = re.compile(MODEL_NAME_PATTERN)


class ExampleSettings(Settings):
    """Environment settings (``INFOTRAFIC_*``) read once by the API, the dashboard and the scripts.

    Adds to :class:`infotrafic.Settings` (``INFOTRAFIC_DATA_DIR``, ``INFOTRAFIC_BASE_URL``,
    ``INFOTRAFIC_MLFLOW_URI``, ...) the knobs of the example apps.
    """

    mlflow_enabled: bool = Field(
        default=True,
        description="Log trainings and backtests to MLflow (INFOTRAFIC_MLFLOW_URI, or a local "
        "sqlite store in the data dir when unset).",
    )
    mlflow_experiment: str = Field(default="infotrafic", min_length=1, max_length=200)
    mlflow_model_name: str = Field(
        default="infotrafic",
        pattern=MODEL_NAME_PATTERN,
        description="Registered MLflow model the trainings compete in; its alias 'champion' "
        "is the model served.",
    )
    default_model: str = Field(
        default="gbm",
        pattern=MODEL_NAME_PATTERN,
        description="Forecaster trained by POST /training with an empty body.",
    )
    default_params: dict[str, bool | int | float | str | None] = Field(
        default_factory=dict,
        description="Hyper-parameters of the default model (JSON), e.g. "
        '\'{"max_iter": 100, "n_jobs": 1}\' for a quick fit on a busy machine.',
    )
    backtest_days: int = Field(
        default=7,
        ge=0,
        le=90,
        description="Days before the end of the training data scored by the validation backtest "
        "of a training (0: no validation).",
    )
    allow_any_base_url: bool = Field(
        default=False,
        description="Let POST /ingest fetch from any base_url (default: the configured portal "
        "or a loopback server only).",
    )
    job_workers: int = Field(default=2, ge=1, le=16, description="Background job threads.")
    keep_models: int = Field(
        default=20, ge=1, description="Model versions kept on disk (the champion is always kept)."
    )

    # -- the API's exposure (examples/api; see its README, "Security") --------------------------
    api_token: SecretStr | None = Field(
        default=None,
        description="Bearer token(s) of the API (INFOTRAFIC_API_TOKEN; several separated by "
        "commas or spaces). Required on every write endpoint and on /jobs.",
    )
    api_token_file: Path | None = Field(
        default=None,
        description="File of API bearer tokens, one a line ('#' comments), added to "
        "INFOTRAFIC_API_TOKEN.",
    )
    api_open_reads: bool = Field(
        default=True,
        description="Let /predict, /backtest, /models and /health answer without a token "
        "(false: they need one too; /health always answers).",
    )
    api_insecure: bool = Field(
        default=False,
        description="Serve without any token on a non-loopback address (serve.py --insecure).",
    )
    api_cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed by CORS (JSON list); empty: CORS off.",
    )
    api_max_queued: int = Field(
        default=8, ge=1, le=1000, description="Jobs waiting to run at most (then HTTP 429)."
    )
    api_max_body: int = Field(
        default=1_048_576, ge=1024, description="Largest request body in bytes (then HTTP 413)."
    )
