"""The dashboard with every legacy service real: BFF → demo agent (→ BFF echo, memory,
gateway), sandbox and memory; each section is the real payload of its service."""

from __future__ import annotations

import httpx

from tests.support.legacy_services import LegacyStack

DASHBOARD = "/api/v1/agi/dashboard-data"


def test_every_section_carries_its_services_payload(legacy_stack: LegacyStack) -> None:
    stored = httpx.post(
        f"{legacy_stack.agent.url}/api/v1/plan",
        json={"prompt": "Plan a picnic.", "session_id": "dashboard-seed"},
        timeout=30,
    )
    assert stored.json()["status"] == "ok"

    reply = httpx.get(
        f"{legacy_stack.bff.url}{DASHBOARD}", headers={"X-Request-Id": "dash-real-1"}, timeout=30
    )
    assert reply.status_code == 200
    body = reply.json()
    assert (body["service"], body["status"], body["request_id"]) == ("bff", "ok", "dash-real-1")
    agent, sandbox, memory = (body["data"][k] for k in ("python_agent", "rust_sandbox", "memory"))

    assert agent["service"] == "demo_agent"
    assert agent["status"] == "ok"
    assert agent["request_id"] == "dash-real-1"
    assert agent["plan"]["prompt"] == "Generate a 3-step plan to solve X."
    assert agent["llm_response"]["model_name"] == "mock"
    assert agent["bff_echo"]["received"] == {"ping": "demo_agent", "request_id": "dash-real-1"}

    direct = httpx.post(
        f"{legacy_stack.sandbox.url}/api/v1/execute_tool", json={"tool_name": "demo"}, timeout=30
    )
    assert sandbox == direct.json()
    assert sandbox["tool_name"] == "demo"

    # The agent stores its session while memory is read, so either session may be the newest.
    assert memory["session_id"] in ("dashboard-seed", agent["session_id"])
    latest = httpx.get(
        f"{legacy_stack.memory.url}/memory/latest",
        params={"session_id": memory["session_id"]},
        timeout=30,
    )
    assert memory["messages"] == latest.json()["messages"]
    assert memory["messages"][0]["role"] == "user"


def test_the_bff_logs_one_line_per_downstream_call(legacy_stack: LegacyStack) -> None:
    httpx.get(
        f"{legacy_stack.bff.url}{DASHBOARD}", headers={"X-Request-Id": "dash-log-1"}, timeout=30
    )
    calls = legacy_stack.bff.logged("downstream_call", count=3, request_id="dash-log-1")
    assert sorted(r["section"] for r in calls) == ["memory", "python_agent", "rust_sandbox"]
    assert all(r["outcome"] == "ok" for r in calls), calls
