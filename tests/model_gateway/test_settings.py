"""Start-up refuses bad configuration: exit code 2 and a message naming the variable."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from services.kit.errors import ConfigError
from services.model_gateway.chain_config import provider_config
from services.model_gateway.settings import GatewaySettings
from tests.support.processes import base_env, exit_at_start_up, free_port, python_service

SUPPORTED = "mock, openrouter, ollama, openai"


def start_gateway(workdir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    ports = {
        "MODEL_GATEWAY_GRPC_PORT": str(free_port()),
        "MODEL_GATEWAY_HTTP_PORT": str(free_port()),
    }
    return exit_at_start_up(python_service("model_gateway", base_env(**ports, **env), workdir, []))


def test_unknown_provider_exits_naming_the_variable_and_values(tmp_path: Path) -> None:
    result = start_gateway(tmp_path, LLM_PROVIDER="gpt-magic")
    assert result.returncode == 2
    assert "LLM_PROVIDER" in result.stderr
    assert "gpt-magic" in result.stderr
    assert SUPPORTED in result.stderr


@pytest.mark.parametrize(
    ("provider", "variable"), [("openrouter", "OPENROUTER_API_KEY"), ("openai", "OPENAI_API_KEY")]
)
def test_missing_key_exits_naming_the_variable(
    tmp_path: Path, provider: str, variable: str
) -> None:
    result = start_gateway(tmp_path, LLM_PROVIDER=provider, **{variable: "   "})
    assert result.returncode == 2
    assert f"{variable} is required when LLM_PROVIDER or LLM_FALLBACKS names {provider}" in (
        result.stderr
    )
    assert SUPPORTED in result.stderr


def test_bad_timeout_and_partial_tls_are_refused(tmp_path: Path) -> None:
    timeout = start_gateway(tmp_path, REQUEST_TIMEOUT_SECONDS="-1")
    assert timeout.returncode == 2
    assert "REQUEST_TIMEOUT_SECONDS" in timeout.stderr
    tls = start_gateway(tmp_path, TLS_SERVER_CERT_PATH=str(tmp_path / "server.crt"))
    assert tls.returncode == 2
    assert "TLS_SERVER_KEY_PATH" in tls.stderr


def test_prices_that_are_not_json_are_refused_naming_the_variable(tmp_path: Path) -> None:
    result = start_gateway(tmp_path, LLM_PRICES_PER_1K="{gpt-4o: 1}")
    assert result.returncode == 2
    assert "LLM_PRICES_PER_1K" in result.stderr
    assert "expected a JSON object by model name" in result.stderr


def test_provider_selection_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert provider_config(GatewaySettings()) is None
    monkeypatch.setenv("LLM_PROVIDER", "OpenRouter")
    monkeypatch.setenv("OPENROUTER_API_KEY", "k")
    openrouter = provider_config(GatewaySettings())
    assert openrouter is not None
    assert openrouter.base_url == "https://openrouter.ai/api/v1"
    assert openrouter.model == "mistralai/mistral-7b-instruct:free"
    monkeypatch.setenv("LLM_PROVIDER", "ollama")
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://gpu-box:11434/v1/")
    ollama = provider_config(GatewaySettings())
    assert ollama is not None
    assert (ollama.base_url, ollama.model, ollama.api_key) == (
        "http://gpu-box:11434/v1",
        "llama3",
        "",
    )
    monkeypatch.setenv("OLLAMA_BASE_URL", "gpu-box:11434")
    with pytest.raises(ConfigError, match="OLLAMA_BASE_URL"):
        provider_config(GatewaySettings())


def test_blank_values_keep_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LLM_PROVIDER", "OPENAI_BASE_URL", "OPENAI_MODEL_NAME", "RAG_GRPC_ADDR"):
        monkeypatch.setenv(name, "  ")
    monkeypatch.setenv("LLM_PRICES_PER_1K", "")  # what compose passes when .env is silent
    settings = GatewaySettings()
    assert provider_config(settings) is None
    assert settings.RAG_GRPC_ADDR == "localhost:50052"
    assert settings.LLM_PRICES_PER_1K == {}
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    openai = provider_config(GatewaySettings())
    assert openai is not None
    assert (openai.base_url, openai.model) == ("https://api.openai.com/v1", "gpt-4o-mini")
