"""Sandbox settings: defaults, the SANDBOX_* port aliases, and start-up errors that name
the variable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.kit.errors import ConfigError
from services.kit.settings import load_settings
from services.sandbox.settings import SandboxSettings
from tests.sandbox.conftest import start_until_exit
from tests.support.logs import wait_for_log
from tests.support.processes import base_env, free_port, grpc_ready, http_ready, python_service
from tests.support.spawning import Spawner


def test_defaults() -> None:
    settings = load_settings(SandboxSettings)
    assert settings.RUST_SANDBOX_PORT == 8001
    assert settings.RUST_SANDBOX_GRPC_PORT == 50053
    assert settings.SANDBOX_MAX_TIMEOUT_SECONDS == 60
    assert 2 * (os.cpu_count() or 1) == settings.SANDBOX_MAX_CONCURRENCY
    assert settings.WEB_SEARCH_PROVIDER == "mock"


def test_aliases_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_PORT", "9101")
    monkeypatch.setenv("SANDBOX_GRPC_PORT", "9102")
    monkeypatch.setenv("WEB_SEARCH_PROVIDER", "SearXNG")
    settings = load_settings(SandboxSettings)
    assert (settings.RUST_SANDBOX_PORT, settings.RUST_SANDBOX_GRPC_PORT) == (9101, 9102)
    assert settings.WEB_SEARCH_PROVIDER == "searxng"


def test_service_starts_on_the_alias_ports(tmp_path: Path, spawn: Spawner) -> None:
    http_port, grpc_port = free_port(), free_port()
    env = base_env(SANDBOX_PORT=str(http_port), SANDBOX_GRPC_PORT=str(grpc_port))
    # Ready means both doors answer on the alias ports (HTTP /health, gRPC health SERVING).
    ready = [http_ready(http_port), grpc_ready(grpc_port)]
    service = spawn(python_service("sandbox", env, tmp_path, ready))
    assert service.alive()
    wait_for_log(service, f'"port": {grpc_port}')


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WEB_SEARCH_PROVIDER", "bing"),
        ("SANDBOX_MAX_CONCURRENCY", "0"),
        ("RUST_SANDBOX_PORT", "eighty"),
        ("SANDBOX_ISOLATION", "docker"),
        ("SANDBOX_DISK_QUOTA", "sometimes"),
        ("SANDBOX_TMPFS_INODES", "10"),
        ("SANDBOX_EGRESS", "open"),
        ("SANDBOX_EGRESS_ALLOW", "pypi.org,bad host"),
        ("SANDBOX_EGRESS_TEST_HOSTS", "fake.test=not-an-ip"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(SandboxSettings)
    assert variable in str(caught.value)


def test_bad_value_stops_the_process_with_exit_code_2(tmp_path: Path) -> None:
    result = start_until_exit(tmp_path, WEB_SEARCH_PROVIDER="bing")
    assert result.returncode == 2
    assert "WEB_SEARCH_PROVIDER" in result.stderr
