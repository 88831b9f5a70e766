"""API-key auth: X-API-Key or Bearer, constant-time compared; probes and /metrics exempt;
dev mode (no key) lets requests through and warns."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.agent_planner.conftest import API_KEY, LonePlanner, start_lone_planner
from tests.support.logs import logged
from tests.support.spawning import Spawner

UNAUTHORIZED = {"error": "unauthorized", "message": "Invalid or missing API key"}
BODY = '{"prompt": "hello", "session_id": "s-auth"}'


def call(planner: LonePlanner, path: str, headers: dict[str, str]) -> httpx.Response:
    url = f"{planner.url}{path}"
    if path in ("/plan", "/run"):
        return httpx.post(url, content=BODY, headers=headers, timeout=30)
    return httpx.get(url, headers=headers, timeout=10)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": API_KEY},
        {"Authorization": f"Bearer {API_KEY}"},
        {"authorization": f"bearer {API_KEY}"},
    ],
)
def test_the_right_key_is_accepted(lone_planner: LonePlanner, headers: dict[str, str]) -> None:
    reply = call(lone_planner, "/plan", headers)
    assert reply.status_code == 500  # past auth; the loop fails as the gateway is down
    audit = call(lone_planner, "/audit?session_id=s-auth", headers)
    assert audit.status_code == 200


@pytest.mark.parametrize("path", ["/plan", "/run", "/audit?session_id=s-auth"])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "wrong"},
        {"X-API-Key": API_KEY + "x"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {API_KEY}"},
        {"Authorization": API_KEY},
        {"X-API-Key": ""},
    ],
)
def test_a_wrong_or_missing_key_is_401(
    lone_planner: LonePlanner, path: str, headers: dict[str, str]
) -> None:
    reply = call(lone_planner, path, headers)
    assert reply.status_code == 401
    assert reply.json() == UNAUTHORIZED
    assert reply.headers["X-Trace-ID"]


def test_rejected_requests_never_reach_the_loop(lone_planner: LonePlanner) -> None:
    reply = call(lone_planner, "/plan", {"X-API-Key": "nope", "X-Trace-ID": "auth-rejected-1"})
    assert reply.status_code == 401
    rows = call(lone_planner, "/audit?trace_id=auth-rejected-1", {"X-API-Key": API_KEY})
    assert rows.json()["rows"] == []


@pytest.mark.parametrize("path", ["/health", "/ready", "/live", "/metrics"])
def test_probes_and_metrics_need_no_key(lone_planner: LonePlanner, path: str) -> None:
    assert call(lone_planner, path, {}).status_code == 200


def test_without_a_key_requests_pass_and_a_warning_is_logged(
    spawn: Spawner, tmp_path: Path
) -> None:
    planner = start_lone_planner(spawn, tmp_path, api_key=None)
    assert call(planner, "/plan", {}).status_code == 500  # reached the loop
    assert call(planner, "/audit?session_id=s-auth", {}).status_code == 200
    assert logged(planner.process, "auth_disabled")


def test_a_blank_key_means_auth_is_off(spawn: Spawner, tmp_path: Path) -> None:
    planner = start_lone_planner(spawn, tmp_path, api_key=None, PAGI_API_KEY="   ")
    assert call(planner, "/audit?session_id=x", {}).status_code == 200


@pytest.mark.parametrize("path", ["/openapi.json", "/docs"])
def test_the_api_docs_need_the_key(lone_planner: LonePlanner, path: str) -> None:
    assert call(lone_planner, path, {}).status_code == 401
    reply = call(lone_planner, path, {"X-API-Key": API_KEY})
    assert reply.status_code == 200
    if path == "/openapi.json":
        assert "/plan" in reply.json()["paths"]
        assert "/openapi.json" not in reply.json()["paths"]


def test_public_docs_is_a_setting(spawn: Spawner, tmp_path: Path) -> None:
    planner = start_lone_planner(spawn, tmp_path, AGENT_PUBLIC_DOCS="true")
    assert call(planner, "/openapi.json", {}).status_code == 200
    assert call(planner, "/docs", {}).status_code == 200
    assert call(planner, "/audit?session_id=x", {}).status_code == 401
