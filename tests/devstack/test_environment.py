"""The .env file the dev runner passes on to the services, read as the services read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.devstack.environment import stack_environment
from services.kit.settings import read_env_file
from services.model_gateway.settings import GatewaySettings
from tests.support.processes import ROOT


def test_the_shipped_example_reads_as_the_services_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cp .env.example .env` (the README's set-up step) must leave every value as a
    service reading .env itself would see it: inline comments are not part of a value."""
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLM_PROVIDER", raising=False)
    assert read_env_file(Path(".env")) == {"LLM_PROVIDER": "mock"}
    assert stack_environment()["LLM_PROVIDER"] == GatewaySettings().LLM_PROVIDER == "mock"


def test_quotes_export_and_comments(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "# a comment\n"
        "export PAGI_API_KEY='quoted # not a comment'\n"
        'AGENT_TOOL_APPROVAL="execute_code,web_search"\n'
        "AGENT_MAX_TURNS=5   # five turns\n"
        "EMPTY=\n"
        "NO_VALUE\n"
    )
    assert read_env_file(env) == {
        "PAGI_API_KEY": "quoted # not a comment",
        "AGENT_TOOL_APPROVAL": "execute_code,web_search",
        "AGENT_MAX_TURNS": "5",
        "EMPTY": "",
    }
    assert read_env_file(tmp_path / "missing.env") == {}
