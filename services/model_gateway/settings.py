"""Gateway settings from the environment, and the provider chain they select (checked at
start-up)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationInfo, field_validator
from pydantic_settings import NoDecode

from services.kit.settings import ServiceSettings


class TokenPrice(BaseModel):
    """What a model costs per 1000 tokens, in any currency (reported as `cost`)."""

    prompt: float = Field(ge=0)
    completion: float = Field(ge=0)


class GatewaySettings(ServiceSettings):
    LLM_PROVIDER: str = "mock"
    LLM_FALLBACKS: str = ""
    LLM_MAX_RETRIES: int = Field(default=2, ge=0, le=10)
    LLM_COOLDOWN_SECONDS: float = Field(default=30.0, ge=0, le=3600)
    LLM_COOLDOWN_FAILURES: int = Field(default=3, ge=1, le=100)
    LLM_ATTEMPT_TIMEOUT_SECONDS: float = Field(default=0.0, ge=0, le=600)
    # NoDecode: parsed by the validator below, so a blank value (compose passes one when
    # .env is silent) means no prices instead of failing as JSON.
    LLM_PRICES_PER_1K: Annotated[dict[str, TokenPrice], NoDecode] = Field(default_factory=dict)
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
    RAG_PREAMBLE: bool = True
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

    @field_validator("LLM_PRICES_PER_1K", mode="before")
    @classmethod
    def prices_from_json(cls, value: Any) -> Any:
        """JSON text by model; blank means no prices."""
        if not isinstance(value, str):
            return value
        if not value.strip():
            return {}
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError(f"expected a JSON object by model name: {exc}") from None
