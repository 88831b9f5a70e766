"""Planner settings: SPEC defaults, and bad values refused at start-up by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.agent_planner.settings import PlannerSettings
from services.kit.errors import ConfigError
from services.kit.settings import load_settings
from tests.support.processes import assert_refused_at_start_up, base_env, free_port, python_service


def test_defaults_match_the_spec() -> None:
    settings = load_settings(PlannerSettings)
    assert settings.AGENT_PLANNER_PORT == 8585
    assert settings.MODEL_GATEWAY_ADDR == "localhost:50051"
    assert settings.MEMORY_GRPC_ADDR == "localhost:50052"
    assert settings.MEMORY_URL == "http://localhost:8003"
    assert settings.RUST_SANDBOX_GRPC_ADDR == "localhost:50053"
    assert settings.redis_url() == "redis://localhost:6379"
    assert (settings.AGENT_MAX_TURNS, settings.AGENT_RAG_TOP_K) == (3, 3)
    assert settings.PAGI_AUDIT_DB_PATH == "./pagi_audit.db"
    assert settings.PAGI_NOTIFICATIONS_CHANNEL == "pagi_notifications"
    assert (settings.AGENT_BREAKER_FAILURES, settings.AGENT_BREAKER_OPEN_SECONDS) == (5, 30)
    assert settings.AGENT_GATEWAY_TIMEOUT_SECONDS == 60
    assert settings.AGENT_RAG_TIMEOUT_SECONDS == 30
    assert settings.AGENT_MEMORY_HTTP_TIMEOUT_SECONDS == 10
    assert settings.api_key() is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AGENT_MAX_TURNS", "0"),
        ("AGENT_RAG_TOP_K", "lots"),
        ("MEMORY_URL", "localhost:8003"),
        ("MODEL_GATEWAY_ADDR", "no-port"),
        ("REDIS_ADDR", "redis://"),
        ("AGENT_BREAKER_OPEN_SECONDS", "-1"),
        ("AGENT_TOOL_APPROVAL", "execute_code,rm_rf"),
        ("AGENT_APPROVAL_TIMEOUT_SECONDS", "0"),
        ("AGENT_CHECKPOINT_MAX_BYTES", "10"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings(PlannerSettings)


@pytest.mark.parametrize(
    ("value", "needs_approval", "free"),
    [
        ("none", [], ["execute_code", "web_search"]),
        ("all", ["execute_code", "weather_tool"], []),
        ("execute_code, web_search", ["execute_code", "web_search"], ["weather_tool"]),
    ],
)
def test_approval_policy_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, needs_approval: list[str], free: list[str]
) -> None:
    monkeypatch.setenv("AGENT_TOOL_APPROVAL", value)
    policy = load_settings(PlannerSettings).approval_policy()
    assert all(policy.requires(tool) for tool in needs_approval)
    assert not any(policy.requires(tool) for tool in free)


def test_dot_env_is_read_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("AGENT_MAX_TURNS=7\nAGENT_RAG_TOP_K=9\n")
    monkeypatch.setenv("AGENT_RAG_TOP_K", "4")
    settings = load_settings(PlannerSettings)
    assert (settings.AGENT_MAX_TURNS, settings.AGENT_RAG_TOP_K) == (7, 4)


def test_the_process_refuses_to_start_with_a_bad_setting(tmp_path: Path) -> None:
    env = base_env(AGENT_PLANNER_PORT=str(free_port()), AGENT_MAX_TURNS="zero")
    assert_refused_at_start_up(
        python_service("agent_planner", env, tmp_path, ready=[]), "AGENT_MAX_TURNS"
    )
