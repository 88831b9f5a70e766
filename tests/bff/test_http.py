"""BFF routes: health, the echo wiring check (never calls downstream), request ids, and
the settings it refuses."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from services.bff.settings import BffSettings
from tests.bff.conftest import Downstreams
from tests.support.legacy_services import HttpService
from tests.support.processes import assert_refused_at_start_up, base_env, python_service


def test_health_names_the_service(bff: HttpService) -> None:
    reply = httpx.get(f"{bff.url}/health")
    assert reply.status_code == 200
    assert reply.json() == {"service": "bff", "status": "ok", "version": "0.1.0"}


def test_echo_returns_the_body_and_never_calls_downstream(
    bff: HttpService, fakes: Downstreams
) -> None:
    body = {"ping": "demo_agent", "request_id": "from-body", "nested": [1, {"a": None}]}
    reply = httpx.post(f"{bff.url}/api/v1/echo", json=body, headers={"X-Request-Id": "hdr-1"})
    assert reply.status_code == 200
    assert reply.json() == {"service": "bff", "received": body, "request_id": "hdr-1"}
    assert reply.headers["X-Request-Id"] == "hdr-1"
    for fake in fakes.all():
        assert fake.requests == []


def test_echo_takes_the_request_id_from_the_body_without_a_header(bff: HttpService) -> None:
    reply = httpx.post(f"{bff.url}/api/v1/echo", json={"ping": "x", "request_id": "body-7"})
    assert reply.json()["request_id"] == "body-7"


def test_echo_generates_a_uuid_without_header_or_body_id(bff: HttpService) -> None:
    first = httpx.post(f"{bff.url}/api/v1/echo", json={"ping": "x"}).json()
    second = httpx.post(f"{bff.url}/api/v1/echo", content=b"").json()
    assert uuid.UUID(first["request_id"]).version == 4
    assert first["request_id"] != second["request_id"]
    assert second["received"] == {}


def test_echo_accepts_any_json_value(bff: HttpService) -> None:
    reply = httpx.post(f"{bff.url}/api/v1/echo", json=["a", 1])
    assert reply.json()["received"] == ["a", 1]


def test_echo_rejects_a_body_that_is_not_json(bff: HttpService, fakes: Downstreams) -> None:
    reply = httpx.post(f"{bff.url}/api/v1/echo", content=b"{not json")
    assert reply.status_code == 400
    assert "not valid JSON" in reply.json()["error"]
    assert all(fake.requests == [] for fake in fakes.all())


def test_echo_body_over_the_limit_is_refused(bff: HttpService) -> None:
    reply = httpx.post(f"{bff.url}/api/v1/echo", content=b"[" + b"1," * 600_000 + b"1]")
    assert reply.status_code == 413


def test_each_request_is_logged_once_with_latency_and_request_id(bff: HttpService) -> None:
    request_id = f"log-{uuid.uuid4()}"
    httpx.post(f"{bff.url}/api/v1/echo", json={}, headers={"X-Request-Id": request_id})
    lines = bff.logged("http_request", request_id=request_id)
    assert len(lines) == 1
    assert lines[0]["path"] == "/api/v1/echo"
    assert lines[0]["status"] == 200
    assert isinstance(lines[0]["latency_ms"], float)


def test_defaults_follow_the_spec() -> None:
    settings = BffSettings()
    assert settings.GO_BFF_PORT == 8002
    assert settings.PY_AGENT_URL == "http://localhost:8000"
    assert settings.RUST_SANDBOX_URL == "http://localhost:8001"
    assert settings.MEMORY_URL == "http://localhost:8003"
    assert settings.REQUEST_TIMEOUT_SECONDS == 2


def test_bad_settings_stop_the_process_naming_the_variable(tmp_path: Path) -> None:
    for name, value in (("REQUEST_TIMEOUT_SECONDS", "0"), ("MEMORY_URL", "localhost:8003")):
        bff = python_service("bff", base_env(**{name: value}), tmp_path, ready=[])
        assert_refused_at_start_up(bff, name)
