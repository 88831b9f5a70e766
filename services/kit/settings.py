"""Typed settings read once from the environment and an optional `.env` (real env wins)."""

from __future__ import annotations

from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kit.errors import ConfigError
from services.kit.tls import TlsFiles, client_tls, server_tls


class ServiceSettings(BaseSettings):
    """Base for every service's settings: field names are the environment variable names."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
    )

    LOG_LEVEL: str = "INFO"
    OTEL_EXPORTER_OTLP_ENDPOINT: str = ""
    OTEL_SERVICE_NAME: str = ""
    TLS_SERVER_CERT_PATH: str = ""
    TLS_SERVER_KEY_PATH: str = ""
    TLS_CLIENT_CERT_PATH: str = ""
    TLS_CLIENT_KEY_PATH: str = ""
    TLS_CA_CERT_PATH: str = ""
    TLS_SERVER_NAME: str = ""

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
