"""Settings of the legacy BFF (SPEC §2, §9)."""

from __future__ import annotations

from pydantic import Field, field_validator

from services.kit.settings import ServiceSettings, check_base_url


class BffSettings(ServiceSettings):
    GO_BFF_PORT: int = Field(default=8002, ge=1, le=65535)
    PY_AGENT_URL: str = "http://localhost:8000"
    RUST_SANDBOX_URL: str = "http://localhost:8001"
    MEMORY_URL: str = "http://localhost:8003"
    REQUEST_TIMEOUT_SECONDS: float = Field(default=2.0, gt=0, le=300)

    @field_validator("PY_AGENT_URL", "RUST_SANDBOX_URL", "MEMORY_URL")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return check_base_url(value)
