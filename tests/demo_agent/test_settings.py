"""The demo agent's settings: SPEC defaults, and bad values stop it naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.demo_agent.settings import DemoAgentSettings
from tests.support.processes import assert_refused_at_start_up, base_env, python_service


def test_defaults_follow_the_spec() -> None:
    settings = DemoAgentSettings()
    assert settings.PY_AGENT_PORT == 8000
    assert settings.GO_BFF_URL == "http://localhost:8002"
    assert settings.MEMORY_URL == "http://localhost:8003"
    assert settings.RUST_SANDBOX_URL == "http://localhost:8001"
    assert settings.gateway_address == "localhost:50051"
    assert settings.MODEL_GATEWAY_GRPC_TIMEOUT_SECONDS == 5
    assert settings.REQUEST_TIMEOUT_SECONDS == 2


def test_a_trailing_slash_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMORY_URL", "http://memory:8003/")
    assert DemoAgentSettings().MEMORY_URL == "http://memory:8003"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GO_BFF_URL", "bff:8002"),
        ("MODEL_GATEWAY_GRPC_PORT", "99999"),
        ("MODEL_GATEWAY_GRPC_TIMEOUT_SECONDS", "-1"),
    ],
)
def test_bad_settings_stop_the_process_naming_the_variable(
    tmp_path: Path, name: str, value: str
) -> None:
    agent = python_service("demo_agent", base_env(**{name: value}), tmp_path, ready=[])
    assert_refused_at_start_up(agent, name)
