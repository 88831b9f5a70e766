"""Typed settings read once from the environment and an optional `.env` (real env wins)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from dotenv import dotenv_values
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kit.errors import ConfigError
from services.kit.tls import TlsFiles, client_tls, server_tls

if TYPE_CHECKING:  # SQLAlchemy is imported only by the services that have a database
    from services.kit.database import Database

ENV_FILE = ".env"
ENV_FILE_ENCODING = "utf-8"


def read_env_file(path: Path) -> dict[str, str]:
    """The KEY=VALUE settings of an env file as the settings read it (python-dotenv:
    comments after a value, quotes and `export ` included); {} when there is none."""
    if not path.is_file():
        return {}
    values = dotenv_values(path, encoding=ENV_FILE_ENCODING)
    return {key: value for key, value in values.items() if value is not None}


class ServiceSettings(BaseSettings):
    """Base for every service's settings: field names are the environment variable names."""

    model_config = SettingsConfigDict(
        env_file=ENV_FILE,
        env_file_encoding=ENV_FILE_ENCODING,
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
    )

    LOG_LEVEL: str = "INFO"
    # The longest a log line waits to be written with others; 0 writes each line at once.
    LOG_FLUSH_MS: int = Field(default=50, ge=0, le=5000)
    OTEL_EXPORTER_OTLP_ENDPOINT: str = ""
    OTEL_SERVICE_NAME: str = ""
    TLS_SERVER_CERT_PATH: str = ""
    TLS_SERVER_KEY_PATH: str = ""
    TLS_CLIENT_CERT_PATH: str = ""
    TLS_CLIENT_KEY_PATH: str = ""
    TLS_CA_CERT_PATH: str = ""
    TLS_SERVER_NAME: str = ""
    # Loopback unless told otherwise: containers set 0.0.0.0 explicitly.
    BIND_HOST: str = "127.0.0.1"
    INTERNAL_API_KEY: str = ""

    @classmethod
    def undeclared(cls, name: str) -> str:
        """A variable no field declares (e.g. a custom provider's <NAME>_BASE_URL), from
        the same places as the fields: the environment, then the env file; "" if unset."""
        value = os.environ.get(name)
        if value is None:
            value = read_env_file(Path(ENV_FILE)).get(name)
        return (value or "").strip()

    def internal_key(self) -> str | None:
        """The shared key of internal calls, or None when unset or blank."""
        return self.INTERNAL_API_KEY.strip() or None

    def server_tls(self) -> TlsFiles | None:
        """The gRPC server's mTLS files, or None for plaintext; partial sets raise ConfigError."""
        return server_tls(
            self.TLS_SERVER_CERT_PATH, self.TLS_SERVER_KEY_PATH, self.TLS_CA_CERT_PATH
        )

    def client_tls(self) -> TlsFiles | None:
        """The client side's mTLS files for outgoing gRPC channels, or None for plaintext."""
        return client_tls(
            self.TLS_CLIENT_CERT_PATH, self.TLS_CLIENT_KEY_PATH, self.TLS_CA_CERT_PATH
        )


class DatabaseSettings(ServiceSettings):
    """A service with a relational database: PostgreSQL when DATABASE_URL is set, else the
    service's own SQLite file."""

    DATABASE_URL: str = ""
    DATABASE_POOL_SIZE: int = Field(default=5, ge=1, le=100)
    DATABASE_CONNECT_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0, le=120)

    @field_validator("DATABASE_URL")
    @classmethod
    def _postgres_only(cls, value: str) -> str:
        from services.kit.database import engine_url

        if value:
            engine_url(value, Path())
        return value

    def database(self, sqlite_path: Path) -> Database:
        from services.kit.database import Database, engine_url

        return Database(
            engine_url(self.DATABASE_URL, sqlite_path),
            self.DATABASE_POOL_SIZE,
            self.DATABASE_CONNECT_TIMEOUT_SECONDS,
        )


def check_base_url(value: str) -> str:
    """An http(s) base URL without a trailing slash, so paths can be appended."""
    url = value.strip().rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url) <= len("https://"):
        raise ValueError("must be an http:// or https:// base URL")
    return url


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(cls: type[SettingsT]) -> SettingsT:
    """Build settings or raise ConfigError naming each offending variable."""
    try:
        return cls()
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        value = error.get("input")
        shown = f" (got {value!r})" if isinstance(value, str | int | float) else ""
        problems.append(f"{name.upper()}: {error['msg']}{shown}")
    return "invalid configuration: " + "; ".join(problems)
