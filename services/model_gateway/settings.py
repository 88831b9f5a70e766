"""Gateway settings from the environment, and the provider they select (checked at start-up)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from services.kit.errors import ConfigError
from services.kit.settings import ServiceSettings

SUPPORTED_PROVIDERS = ("mock", "openrouter", "ollama", "openai")


class GatewaySettings(ServiceSettings):
    LLM_PROVIDER: str = "mock"
    OPENROUTER_API_KEY: str = ""
    OPENROUTER_MODEL_NAME: str = "mistralai/mistral-7b-instruct:free"
    OPENROUTER_BASE_URL: str = "https://openrouter.ai/api/v1"
    OLLAMA_BASE_URL: str = "http://localhost:11434"
    OLLAMA_MODEL_NAME: str = "llama3"
    OPENAI_BASE_URL: str = "https://api.openai.com/v1"
    OPENAI_API_KEY: str = ""
    OPENAI_MODEL_NAME: str = "gpt-4o-mini"
    REQUEST_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0, le=600)
    RAG_TIMEOUT_SECONDS: float = Field(default=2.0, gt=0, le=600)
    MODEL_GATEWAY_GRPC_PORT: int = Field(default=50051, ge=0, le=65535)
    MODEL_GATEWAY_HTTP_PORT: int = Field(default=8005, ge=0, le=65535)
    RAG_GRPC_ADDR: str = "localhost:50052"

    @field_validator(
        "LLM_PROVIDER",
        "OPENROUTER_MODEL_NAME",
        "OPENROUTER_BASE_URL",
        "OLLAMA_BASE_URL",
        "OLLAMA_MODEL_NAME",
        "OPENAI_BASE_URL",
        "OPENAI_MODEL_NAME",
        "RAG_GRPC_ADDR",
        mode="before",
    )
    @classmethod
    def blank_means_default(cls, value: Any, info: ValidationInfo) -> Any:
        """`NAME=` in .env (an uncommented template line) keeps the documented default."""
        if isinstance(value, str) and not value.strip() and info.field_name:
            return cls.model_fields[info.field_name].default
        return value


@dataclass(frozen=True)
class ProviderConfig:
    """An OpenAI-compatible endpoint: `base_url` ends before `/chat/completions`."""

    name: str
    base_url: str
    model: str
    api_key: str  # empty: send no Authorization header (ollama)


def provider_name(settings: GatewaySettings) -> str:
    name = settings.LLM_PROVIDER.strip().lower() or "mock"
    if name not in SUPPORTED_PROVIDERS:
        raise ConfigError(
            f"LLM_PROVIDER: unsupported provider {settings.LLM_PROVIDER!r}; "
            f"supported values: {', '.join(SUPPORTED_PROVIDERS)}"
        )
    return name


def provider_config(settings: GatewaySettings) -> ProviderConfig | None:
    """The selected real provider, None for mock; raises ConfigError naming the variable."""
    name = provider_name(settings)
    if name == "openrouter":
        key = _required(settings.OPENROUTER_API_KEY, "OPENROUTER_API_KEY", name)
        base = _base_url(settings.OPENROUTER_BASE_URL, "OPENROUTER_BASE_URL")
        return ProviderConfig(name, base, _model(settings.OPENROUTER_MODEL_NAME, name), key)
    if name == "ollama":
        base = _with_v1(_base_url(settings.OLLAMA_BASE_URL, "OLLAMA_BASE_URL"))
        return ProviderConfig(name, base, _model(settings.OLLAMA_MODEL_NAME, name), "")
    if name == "openai":
        key = _required(settings.OPENAI_API_KEY, "OPENAI_API_KEY", name)
        base = _base_url(settings.OPENAI_BASE_URL, "OPENAI_BASE_URL")
        return ProviderConfig(name, base, _model(settings.OPENAI_MODEL_NAME, name), key)
    return None


def _required(value: str, variable: str, provider: str) -> str:
    if not value.strip():
        raise ConfigError(
            f"{variable} is required when LLM_PROVIDER={provider} "
            f"(supported values of LLM_PROVIDER: {', '.join(SUPPORTED_PROVIDERS)}; "
            "mock needs no key)"
        )
    return value.strip()


def _model(value: str, provider: str) -> str:
    if not value.strip():
        raise ConfigError(f"{provider.upper()}_MODEL_NAME must not be blank")
    return value.strip()


def _base_url(value: str, variable: str) -> str:
    url = value.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{variable}: expected an http:// or https:// URL (got {value!r})")
    return url


def _with_v1(url: str) -> str:
    """Ollama serves the OpenAI-compatible API under /v1."""
    return url if url.endswith("/v1") else f"{url}/v1"
