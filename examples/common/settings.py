"""Settings of the examples: infotrafic's :class:`~infotrafic.Settings` plus a few app knobs."""

from __future__ import annotations

import re

from pydantic import Field

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
