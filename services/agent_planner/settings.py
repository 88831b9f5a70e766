"""Planner settings, read once from the environment (and `.env`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from services.agent_planner.approval import ALL_TOOLS, ApprovalPolicy
from services.kit.redis_settings import RedisChannelSettings
from services.kit.settings import DatabaseSettings
from services.kit.tool_catalogue import TOOLS_BY_NAME


class PlannerSettings(RedisChannelSettings, DatabaseSettings):
    AGENT_PLANNER_PORT: int = Field(default=8585, ge=0, le=65535)
    MODEL_GATEWAY_ADDR: str = "localhost:50051"
    MEMORY_GRPC_ADDR: str = "localhost:50052"
    MEMORY_URL: str = "http://localhost:8003"
    # Memory's own setting of the same name: what the planner stores is clipped to fit it.
    MEMORY_MAX_BODY_BYTES: int = Field(default=1024 * 1024, ge=16 * 1024)
    RUST_SANDBOX_GRPC_ADDR: str = "localhost:50053"
    RUST_SANDBOX_URL: str = "http://localhost:8001"  # its /health, shown by the console
    AGENT_MAX_TURNS: int = Field(default=3, ge=1, le=50)
    AGENT_RAG_TOP_K: int = Field(default=3, ge=1, le=100)
    PAGI_API_KEY: str = ""
    JAEGER_UI_URL: str = ""  # e.g. http://localhost:16686: the console links trace ids there
    AGENT_PUBLIC_DOCS: bool = False
    PAGI_AUDIT_DB_PATH: str = "./pagi_audit.db"
    AGENT_BREAKER_FAILURES: int = Field(default=5, ge=1)
    AGENT_BREAKER_OPEN_SECONDS: float = Field(default=30.0, gt=0)
    AGENT_GATEWAY_TIMEOUT_SECONDS: float = Field(default=60.0, gt=0)
    AGENT_RAG_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0)
    AGENT_MEMORY_HTTP_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0)
    AGENT_TOOL_TIMEOUT_SECONDS: float = Field(default=45.0, gt=0)
    AGENT_REDIS_TIMEOUT_SECONDS: float = Field(default=1.0, gt=0)
    AGENT_MAX_BODY_BYTES: int = Field(default=1024 * 1024, ge=1024)
    AGENT_HISTORY_MAX_MESSAGES: int = Field(default=20, ge=1, le=10_000)
    AGENT_HISTORY_MESSAGE_MAX_CHARS: int = Field(default=2000, ge=100)
    AGENT_RAG_QUERY_MAX_CHARS: int = Field(default=2000, ge=100, le=20_000)
    AGENT_RAG_MATCH_MAX_CHARS: int = Field(default=4000, ge=100)
    # Runs (POST /runs): a bounded pool, durable records and events, streamed over SSE.
    AGENT_MAX_CONCURRENT_RUNS: int = Field(default=8, ge=1, le=1000)
    AGENT_RUN_QUEUE_SIZE: int = Field(default=100, ge=0, le=100_000)
    AGENT_RUNS_DB_PATH: str = ""  # empty: the audit database file
    AGENT_RUN_RETENTION_DAYS: float = Field(default=30.0, gt=0)
    AGENT_RUN_RETENTION_INTERVAL_SECONDS: float = Field(default=3600.0, gt=0)
    AGENT_RUN_EVENT_MAX_BYTES: int = Field(default=65536, ge=1024)
    AGENT_RUN_TOOL_OUTPUT_MAX_CHARS: int = Field(default=4096, ge=100)
    AGENT_RUN_HEARTBEAT_SECONDS: float = Field(default=5.0, gt=0)
    AGENT_SSE_HEARTBEAT_SECONDS: float = Field(default=15.0, gt=0)
    AGENT_SSE_POLL_SECONDS: float = Field(default=1.0, gt=0)  # database polling without Redis
    PAGI_NOTIFICATIONS_STREAM_MAXLEN: int = Field(default=100_000, ge=100)  # approximate trim
    AGENT_RUN_EVENTS_CHANNEL: str = Field(default="pagi:run-events", min_length=1)
    # Human approval of tool calls: none, all, or a comma list of tool names.
    AGENT_TOOL_APPROVAL: str = "none"
    AGENT_APPROVAL_TIMEOUT_SECONDS: float = Field(default=3600.0, gt=0)
    AGENT_RESUME_ON_START: bool = True  # false: runs a dead planner left are marked failed
    AGENT_CHECKPOINT_MAX_BYTES: int = Field(default=4 * 1024 * 1024, ge=16 * 1024)

    @field_validator("MEMORY_URL")
    @classmethod
    def _check_memory_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"expected an http(s) URL such as http://localhost:8003, got {value!r}"
            )
        return value.strip().rstrip("/")

    @field_validator("MODEL_GATEWAY_ADDR", "MEMORY_GRPC_ADDR", "RUST_SANDBOX_GRPC_ADDR")
    @classmethod
    def _check_grpc_addr(cls, value: str) -> str:
        host, _, port = value.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"expected host:port, got {value!r}")
        return value.strip()

    @field_validator("AGENT_TOOL_APPROVAL")
    @classmethod
    def _check_approval(cls, value: str) -> str:
        unknown = ApprovalPolicy.parse(value).tools - {ALL_TOOLS, *TOOLS_BY_NAME}
        if unknown:
            known = ", ".join(sorted(TOOLS_BY_NAME))
            raise ValueError(f"unknown tools {sorted(unknown)}: use none, all or of {known}")
        return value

    def approval_policy(self) -> ApprovalPolicy:
        return ApprovalPolicy.parse(self.AGENT_TOOL_APPROVAL)

    def runs_db_path(self) -> str:
        return self.AGENT_RUNS_DB_PATH.strip() or self.PAGI_AUDIT_DB_PATH

    def api_key(self) -> str | None:
        """The API key, or None when auth is off (unset or blank)."""
        return self.PAGI_API_KEY.strip() or None
