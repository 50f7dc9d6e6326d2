"""Settings, read once from the environment by the CLI and the examples and passed down.

Library code never reads the environment itself: build a :class:`Settings` (or let the CLI build
one) and hand its values to the functions that need them
(:meth:`infotrafic.opendata.OpenDataClient.from_settings`).

The defaults are written once, here, as named constants: the settings' fields and the portal
client's own defaults (:mod:`infotrafic.opendata`, :class:`~infotrafic.opendata.RetryPolicy`)
read them, so a default changed here changes both.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_QUOTA_WAIT",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "Settings",
]

#: Root of the City of Paris open-data portal.
DEFAULT_BASE_URL = "https://opendata.paris.fr"
#: Seconds allowed between two reads of an HTTP answer (also write and pool waits); exports
#: stream, so this is not a bound on a whole download.
DEFAULT_TIMEOUT = 60.0
#: Retries after the first attempt on 5xx answers, connection errors and broken bodies.
DEFAULT_MAX_RETRIES = 5
#: Longest wait in seconds for a quota reset announced by the portal before giving up.
DEFAULT_MAX_QUOTA_WAIT = 300.0


class Settings(BaseSettings):
    """Runtime configuration, from ``INFOTRAFIC_*`` environment variables or a ``.env`` file.

    Examples
    --------
    >>> from infotrafic import Settings
    >>> Settings(data_dir="/tmp/it").raw_dir.as_posix()
    '/tmp/it/raw'
    """

    model_config = SettingsConfigDict(env_prefix="INFOTRAFIC_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Root of raw/processed/models.")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="Portal root URL.")
    api_key: SecretStr | None = Field(default=None, description="Portal API key (optional).")
    timeout: float = Field(default=DEFAULT_TIMEOUT, gt=0, description="Seconds per HTTP read.")
    max_retries: int = Field(
        default=DEFAULT_MAX_RETRIES, ge=0, description="Retries on 5xx and broken bodies."
    )
    max_quota_wait: float = Field(
        default=DEFAULT_MAX_QUOTA_WAIT,
        ge=0,
        description="Longest wait (s) for a quota reset before giving up.",
    )
    mlflow_uri: str | None = Field(default=None, description="MLflow tracking URI.")

    @property
    def raw_dir(self) -> Path:
        """Where downloaded files are kept."""
        return self.data_dir / "raw"

    @property
    def processed_dir(self) -> Path:
        """Where the canonical parquet store lives."""
        return self.data_dir / "processed"

    @property
    def models_dir(self) -> Path:
        """Where fitted forecasters are saved."""
        return self.data_dir / "models"
