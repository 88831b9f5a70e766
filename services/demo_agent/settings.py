"""Settings of the legacy demo agent (SPEC §2, §9)."""

from __future__ import annotations

from pydantic import Field, field_validator

from services.kit.settings import ServiceSettings, check_base_url


class DemoAgentSettings(ServiceSettings):
    PY_AGENT_PORT: int = Field(default=8000, ge=1, le=65535)
    GO_BFF_URL: str = "http://localhost:8002"
    MEMORY_URL: str = "http://localhost:8003"
    RUST_SANDBOX_URL: str = "http://localhost:8001"
    MODEL_GATEWAY_GRPC_HOST: str = Field(default="localhost", min_length=1)
    MODEL_GATEWAY_GRPC_PORT: int = Field(default=50051, ge=1, le=65535)
    MODEL_GATEWAY_GRPC_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0, le=600)
    REQUEST_TIMEOUT_SECONDS: float = Field(default=2.0, gt=0, le=300)

    @field_validator("GO_BFF_URL", "MEMORY_URL", "RUST_SANDBOX_URL")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return check_base_url(value)

    @property
    def gateway_address(self) -> str:
        return f"{self.MODEL_GATEWAY_GRPC_HOST.strip()}:{self.MODEL_GATEWAY_GRPC_PORT}"
