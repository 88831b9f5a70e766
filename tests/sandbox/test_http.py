"""The HTTP doors: /execute-tool, the legacy /api/v1/execute_tool, /health, /metrics."""

from __future__ import annotations

import httpx
import pytest

from tests.sandbox.conftest import Sandbox

PATHS = ["/execute-tool", "/api/v1/execute_tool"]


@pytest.mark.parametrize("path", PATHS)
def test_legacy_bff_body_without_args(sandbox: Sandbox, path: str) -> None:
    reply = sandbox.http_tool({"tool_name": "demo"}, path)
    assert reply.status_code == 200
    assert reply.json() == {
        "status": "unknown_tool",
        "tool_name": "demo",
        "result": {
            "stdout": {"message": "Unknown tool", "tool_name": "demo", "echo": {}},
            "stderr": "",
        },
    }


@pytest.mark.parametrize("path", PATHS)
def test_execute_code_over_http(sandbox: Sandbox, path: str) -> None:
    body = {"tool_name": "execute_code", "args": {"code": "print('via http')"}}
    reply = sandbox.http_tool(body, path)
    assert reply.status_code == 200
    payload = reply.json()
    assert payload["status"] == "ok"
    assert payload["tool_name"] == "execute_code"
    assert payload["result"]["stdout"]["stdout"] == "via http\n"
    assert payload["result"]["stderr"] == ""


def test_web_search_over_http_parses_stdout(sandbox: Sandbox) -> None:
    reply = sandbox.http_tool({"tool_name": "web_search", "args": {"query": "otters"}})
    result = reply.json()["result"]["stdout"]
    assert result["provider"] == "mock"
    assert result["query"] == "otters"


def test_args_must_be_an_object(sandbox: Sandbox) -> None:
    reply = sandbox.http_tool({"tool_name": "web_search", "args": [1, 2]})
    assert reply.status_code == 422
    assert "args" in reply.json()["error"]


def test_missing_tool_name_is_rejected(sandbox: Sandbox) -> None:
    reply = sandbox.http_tool({"args": {}})
    assert reply.status_code == 422
    assert "tool_name" in reply.json()["error"]


def test_negative_timeout_is_a_400(sandbox: Sandbox) -> None:
    reply = sandbox.http_tool(
        {"tool_name": "execute_code", "args": {"code": "pass"}, "timeout_seconds": -5}
    )
    assert reply.status_code == 400
    assert "timeout_seconds" in reply.json()["error"]


def test_health_and_metrics(sandbox: Sandbox) -> None:
    health = httpx.get(sandbox.url + "/health", timeout=5).json()
    assert health["status"] == "ok"
    assert health["service"] == "sandbox"
    assert health["max_concurrency"] == 4
    assert "python" in health["languages"]
    metrics = httpx.get(sandbox.url + "/metrics", timeout=5)
    assert metrics.status_code == 200
    assert "http_requests_total" in metrics.text
