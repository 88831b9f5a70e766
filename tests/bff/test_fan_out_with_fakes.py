"""The dashboard fan-out against recording fakes whose delay and answer each test sets:
concurrency, per-call timeouts, failed sections, pass-through of text, request ids."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import httpx

from tests.bff.conftest import (
    AGENT_PAYLOAD,
    BFF_TIMEOUT_SECONDS,
    MEMORY_PAYLOAD,
    SANDBOX_PAYLOAD,
    Downstreams,
)
from tests.support.legacy_services import HttpService, bff_process
from tests.support.polling import HUNG_SECONDS
from tests.support.processes import free_port
from tests.support.recording_http import CannedAnswer

DASHBOARD = "/api/v1/agi/dashboard-data"


def dashboard(bff: HttpService, **headers: str) -> httpx.Response:
    return httpx.get(f"{bff.url}{DASHBOARD}", headers=headers, timeout=60)


def test_sections_carry_each_downstream_payload(bff: HttpService, fakes: Downstreams) -> None:
    reply = dashboard(bff)
    assert reply.status_code == 200
    body = reply.json()
    assert body["service"] == "bff"
    assert body["status"] == "ok"
    assert body["data"] == {
        "python_agent": AGENT_PAYLOAD,
        "rust_sandbox": SANDBOX_PAYLOAD,
        "memory": MEMORY_PAYLOAD,
    }


def test_downstream_requests_have_the_documented_shape(
    bff: HttpService, fakes: Downstreams
) -> None:
    dashboard(bff)
    [plan] = fakes.agent.received("POST", "/api/v1/plan")
    [tool] = fakes.sandbox.received("POST", "/api/v1/execute_tool")
    [latest] = fakes.memory.received("GET", "/memory/latest")
    assert plan.json() == {}
    assert tool.json() == {"tool_name": "demo"}
    assert latest.body == b""
    assert all(len(fake.requests) == 1 for fake in fakes.all())


def test_the_three_calls_run_concurrently(bff: HttpService, fakes: Downstreams) -> None:
    # Each fake answers only once all three calls are waiting together; calls made one
    # after another never get there and end as timed-out sections.
    all_three = threading.Barrier(3)
    for fake in fakes.all():
        for answer in fake.answers.values():
            answer.hold = lambda: all_three.wait(HUNG_SECONDS)
    reply = dashboard(bff)
    assert reply.json()["data"] == {
        "python_agent": AGENT_PAYLOAD,
        "rust_sandbox": SANDBOX_PAYLOAD,
        "memory": MEMORY_PAYLOAD,
    }


def test_a_slow_downstream_becomes_a_failed_section_within_the_timeout(
    bff: HttpService, fakes: Downstreams
) -> None:
    never_answered = threading.Event()
    fakes.sandbox.answers[("POST", "/api/v1/execute_tool")].hold = lambda: never_answered.wait(
        HUNG_SECONDS
    )
    try:
        reply = dashboard(bff)
    finally:
        never_answered.set()
    assert reply.status_code == 200
    data = reply.json()["data"]
    assert data["rust_sandbox"] == {
        "error": f"timed out after {BFF_TIMEOUT_SECONDS:g}s",
        "status": "failed",
    }
    assert data["python_agent"] == AGENT_PAYLOAD
    assert data["memory"] == MEMORY_PAYLOAD


def test_an_error_status_becomes_a_failed_section(bff: HttpService, fakes: Downstreams) -> None:
    fakes.agent.answers[("POST", "/api/v1/plan")] = CannedAnswer(503, {"detail": "overloaded"})
    reply = dashboard(bff)
    assert reply.status_code == 200
    data = reply.json()["data"]
    assert data["python_agent"]["status"] == "failed"
    assert data["python_agent"]["error"].startswith("HTTP 503")
    assert "overloaded" in data["python_agent"]["error"]
    assert data["memory"] == MEMORY_PAYLOAD


def test_a_body_that_is_not_json_is_passed_through_as_text(
    bff: HttpService, fakes: Downstreams
) -> None:
    fakes.memory.answers[("GET", "/memory/latest")] = CannedAnswer(
        body=b"plain words, not JSON", content_type="text/plain"
    )
    reply = dashboard(bff)
    assert reply.json()["data"]["memory"] == "plain words, not JSON"


def test_an_oversized_answer_becomes_a_failed_section(bff: HttpService, fakes: Downstreams) -> None:
    fakes.memory.answers[("GET", "/memory/latest")] = CannedAnswer(body=b"x" * (2 * 1024 * 1024))
    data = dashboard(bff).json()["data"]
    assert data["memory"] == {"error": "response larger than 1048576 bytes", "status": "failed"}
    assert data["python_agent"] == AGENT_PAYLOAD


def test_the_callers_request_id_reaches_every_downstream(
    bff: HttpService, fakes: Downstreams
) -> None:
    reply = dashboard(bff, **{"X-Request-Id": "dash-42"})
    assert reply.json()["request_id"] == "dash-42"
    assert reply.headers["X-Request-Id"] == "dash-42"
    for fake in fakes.all():
        [request] = fake.requests
        assert request.headers["x-request-id"] == "dash-42"
        assert request.headers["x-trace-id"] == reply.headers["X-Trace-ID"]


def test_a_generated_request_id_is_shared_by_all_downstream_calls(
    bff: HttpService, fakes: Downstreams
) -> None:
    unusable = "x" * 200  # too long to be put in logs: replaced like a missing one
    reply = dashboard(bff, **{"X-Request-Id": unusable})
    request_id = reply.json()["request_id"]
    assert uuid.UUID(request_id).version == 4
    assert {fake.requests[0].headers["x-request-id"] for fake in fakes.all()} == {request_id}


def test_every_downstream_call_is_logged_with_its_latency(
    bff: HttpService, fakes: Downstreams
) -> None:
    request_id = f"log-{uuid.uuid4()}"
    fakes.agent.answers[("POST", "/api/v1/plan")] = CannedAnswer(500, {})
    dashboard(bff, **{"X-Request-Id": request_id})
    calls = bff.logged("downstream_call", count=3, request_id=request_id)
    assert {r["section"] for r in calls} == {"python_agent", "rust_sandbox", "memory"}
    assert all(isinstance(r["latency_ms"], float) for r in calls)
    outcomes = {r["section"]: (r["outcome"], r["status"]) for r in calls}
    assert outcomes["python_agent"] == ("failed", 500)
    assert outcomes["memory"] == ("ok", 200)
    [request_line] = bff.logged("http_request", request_id=request_id)
    assert request_line["path"] == DASHBOARD


def test_a_downstream_that_is_down_fails_alone(tmp_path: Path, fakes: Downstreams) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    bff = bff_process(
        tmp_path,
        free_port(),
        PY_AGENT_URL=fakes.agent.url,
        RUST_SANDBOX_URL=closed,
        MEMORY_URL=fakes.memory.url,
    )
    bff.process.start(timeout=30)
    try:
        reply = dashboard(bff)
    finally:
        bff.process.stop()
    assert reply.status_code == 200
    data = reply.json()["data"]
    assert data["rust_sandbox"]["status"] == "failed"
    assert data["rust_sandbox"]["error"].startswith("connection failed")
    assert data["python_agent"] == AGENT_PAYLOAD
    assert data["memory"] == MEMORY_PAYLOAD
