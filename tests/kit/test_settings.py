"""Settings: typed values from the environment and .env, errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.kit.errors import ConfigError
from services.kit.settings import ServiceSettings, load_settings
from tests.kit.conftest import kit_server_process
from tests.support.processes import assert_refused_at_start_up


class ExampleSettings(ServiceSettings):
    EXAMPLE_PORT: int = 8003
    EXAMPLE_URL: str = "http://localhost:8003"


def test_defaults_apply_on_a_fresh_machine() -> None:
    settings = load_settings(ExampleSettings)
    assert settings.EXAMPLE_PORT == 8003
    assert settings.server_tls() is None and settings.client_tls() is None


def test_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_PORT", "eighty")
    with pytest.raises(ConfigError) as caught:
        load_settings(ExampleSettings)
    assert "EXAMPLE_PORT" in str(caught.value)
    assert "'eighty'" in str(caught.value)


def test_dotenv_is_read_and_real_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("EXAMPLE_PORT=9100\nEXAMPLE_URL=http://from-dotenv\n")
    assert load_settings(ExampleSettings).EXAMPLE_PORT == 9100
    monkeypatch.setenv("EXAMPLE_PORT", "9200")
    settings = load_settings(ExampleSettings)
    assert settings.EXAMPLE_PORT == 9200
    assert settings.EXAMPLE_URL == "http://from-dotenv"


def test_partial_server_tls_names_the_missing_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cert = tmp_path / "server.crt"
    cert.write_text("x")
    monkeypatch.setenv("TLS_SERVER_CERT_PATH", str(cert))
    with pytest.raises(ConfigError) as caught:
        load_settings(ExampleSettings).server_tls()
    assert "TLS_SERVER_KEY_PATH" in str(caught.value)
    assert "TLS_CA_CERT_PATH" in str(caught.value)


def test_tls_file_that_does_not_exist_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TLS_CLIENT_CERT_PATH", "TLS_CLIENT_KEY_PATH", "TLS_CA_CERT_PATH"):
        monkeypatch.setenv(name, f"/nonexistent/{name.lower()}.pem")
    with pytest.raises(ConfigError, match="TLS_CLIENT_CERT_PATH: file not found"):
        load_settings(ExampleSettings).client_tls()


def test_service_refuses_to_start_with_a_bad_value(tmp_path: Path) -> None:
    server = kit_server_process(tmp_path, False, KIT_HTTP_PORT="not-a-port")
    assert_refused_at_start_up(server.process, "KIT_HTTP_PORT", "'not-a-port'")


def test_service_refuses_partial_tls(tmp_path: Path) -> None:
    server = kit_server_process(tmp_path, False, TLS_SERVER_CERT_PATH="/x/server.crt")
    assert_refused_at_start_up(server.process, "TLS_SERVER_KEY_PATH", "TLS_CA_CERT_PATH")
