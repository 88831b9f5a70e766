"""Memory and the sandbox failing or hung in the middle of a /plan: the answer still comes
(200, degraded) through the documented timeouts, what failed is logged and audited, and
memory holds no half-written session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.core_services import CoreStack, PlannerClient, sandbox_process
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.logs import logged
from tests.support.memory import MemoryProcess, memory_process
from tests.support.processes import free_port, frozen
from tests.support.spawning import Spawner

TOOL_PLAN = json.dumps({"tool": {"name": "web_search", "args": {"query": "tide tables"}}})
FINAL_STEPS = ["Read the tide table", "Walk out at low tide"]
FINAL = json.dumps({"steps": FINAL_STEPS})
PROMPT = "Find the tide tables for tomorrow"
SHORT = "3"  # seconds: the memory and tool timeouts of the planners below


@pytest.fixture(scope="module")
def own_memory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MemoryProcess]:
    """A memory service these tests may kill, restart and freeze."""
    memory = memory_process(tmp_path_factory.mktemp("own-memory"))
    memory.start()
    yield memory
    memory.stop()


def planner_on(
    stack: CoreStack, memory: MemoryProcess, spawn: Spawner, workdir: Path, **env: str
) -> PlannerClient:
    return stack.start_planner(
        spawn,
        workdir,
        MEMORY_URL=memory.url,
        MEMORY_GRPC_ADDR=memory.address,
        AGENT_RAG_TIMEOUT_SECONDS=SHORT,
        AGENT_MEMORY_HTTP_TIMEOUT_SECONDS=SHORT,
        AGENT_TOOL_TIMEOUT_SECONDS=SHORT,
        **env,
    )


def events_of(planner: PlannerClient, event: str, trace_id: str) -> list[dict[str, Any]]:
    return logged(planner.process, event, trace_id=trace_id)


def session(memory: MemoryProcess, session_id: str) -> list[tuple[str, str]]:
    reply = httpx.get(f"{memory.url}/memory/latest", params={"session_id": session_id}, timeout=30)
    return [(m["role"], m["content"]) for m in reply.json()["messages"]]


def test_memory_writes_failing_after_a_tool_run_still_answer(
    core_stack: CoreStack, own_memory: MemoryProcess, spawn: Spawner, tmp_path: Path
) -> None:
    with FakeOpenAI() as fake:
        # Memory dies when the model is asked for the final answer: the tool step's own
        # writes have happened, the playbook and the final session write have not.
        fake.push(Reply.text(TOOL_PLAN), Reply(content=FINAL, before=own_memory.kill))
        gateway = core_stack.start_openai_gateway(spawn, tmp_path / "gateway", fake.base_url)
        planner = planner_on(
            core_stack, own_memory, spawn, tmp_path / "planner", MODEL_GATEWAY_ADDR=gateway
        )
        try:
            reply = planner.plan(PROMPT, "s-writes-fail", trace_id="trace-writes-fail")
        finally:
            own_memory.start()  # same ports and files
    assert reply.status_code == 200, reply.text
    assert json.loads(reply.json()["result"])["steps"] == FINAL_STEPS

    rows = planner.audit_rows("trace-writes-fail")
    assert [r["event_type"] for r in rows] == [
        "PLAN_START",
        *["PLAN_MODEL_RESPONSE", "TOOL_CALL", "TOOL_RESULT"],
        *["PLAN_MODEL_RESPONSE", "PLAN_END"],
        *["MEMORY_WRITE_ERROR", "MEMORY_WRITE_ERROR"],
    ]
    assert [r["data"]["write"] for r in rows[-2:]] == ["playbook", "session"]
    assert rows[-2]["data"]["error"].startswith("memory /memory/playbook: ")
    assert rows[-1]["data"]["error"].startswith("memory /memory/store: ")
    assert events_of(planner, "playbook_store_failed", "trace-writes-fail")
    assert events_of(planner, "session_store_failed", "trace-writes-fail")
    assert not events_of(planner, "playbook_stored", "trace-writes-fail")

    # Only the tool step's complete pairs were stored; no lone half of the final pair.
    stored = session(own_memory, "s-writes-fail")
    assert [role for role, _ in stored] == ["user", "assistant"] * 2
    assert [content for role, content in stored if role == "user"] == [
        "[tool-plan]",
        "[tool-output]",
    ]


def test_hung_memory_ends_through_its_timeouts_with_a_plain_answer(
    core_stack: CoreStack, own_memory: MemoryProcess, spawn: Spawner, tmp_path: Path
) -> None:
    planner = planner_on(core_stack, own_memory, spawn, tmp_path)
    assert planner.plan(PROMPT, "s-hung-memory").status_code == 200  # memory up: all fine
    with frozen(own_memory):
        reply = planner.plan(PROMPT, "s-hung-memory", trace_id="trace-hung-memory")
    assert reply.status_code == 200, reply.text
    assert json.loads(reply.json()["result"])["prompt"] == PROMPT  # the mock gateway's plan

    trace = "trace-hung-memory"
    # History and RAG context come in one call, which ran out of time.
    [history] = events_of(planner, "session_history_unavailable", trace)
    assert history["error"].startswith("GetPlanContext: DEADLINE_EXCEEDED")
    [rag] = events_of(planner, "rag_context_unavailable", trace)
    assert rag["error"] == history["error"]
    [store] = events_of(planner, "session_store_failed", trace)
    assert store["error"].startswith("memory /memory/store: TimeoutError")
    rows = planner.audit_rows(trace)
    assert [r["event_type"] for r in rows] == [
        "PLAN_START",
        "PLAN_MODEL_RESPONSE",
        "PLAN_END",
        "MEMORY_WRITE_ERROR",
    ]


def test_hung_sandbox_ends_through_the_tool_timeout_and_the_model_is_told(
    core_stack: CoreStack, own_memory: MemoryProcess, spawn: Spawner, tmp_path: Path
) -> None:
    http_port, grpc_port = free_port(), free_port()
    sandbox = spawn(sandbox_process(tmp_path / "sandbox", http_port, grpc_port))
    with FakeOpenAI() as fake:
        fake.push(Reply.text(TOOL_PLAN), Reply.text(FINAL))
        gateway = core_stack.start_openai_gateway(spawn, tmp_path / "gateway", fake.base_url)
        planner = planner_on(
            core_stack,
            own_memory,
            spawn,
            tmp_path / "planner",
            MODEL_GATEWAY_ADDR=gateway,
            RUST_SANDBOX_GRPC_ADDR=f"localhost:{grpc_port}",
        )
        # A first run connects the planner to the sandbox, so the frozen one hangs mid-call
        # (a connection never made would fail as UNAVAILABLE instead).
        assert planner.plan(PROMPT, "s-up", trace_id="trace-sandbox-up").status_code == 200
        assert planner.audit_events("trace-sandbox-up")[3] == "TOOL_RESULT"
        fake.push(Reply.text(TOOL_PLAN), Reply.text(FINAL))
        with frozen(sandbox):
            reply = planner.plan(PROMPT, "s-hung-sandbox", trace_id="trace-hung-sandbox")
        second_request = fake.requests[-1].user_prompt
    assert reply.status_code == 200, reply.text
    assert json.loads(reply.json()["result"])["steps"] == FINAL_STEPS

    rows = planner.audit_rows("trace-hung-sandbox")
    assert [r["event_type"] for r in rows] == [
        "PLAN_START",
        *["PLAN_MODEL_RESPONSE", "TOOL_CALL", "TOOL_ERROR"],
        *["PLAN_MODEL_RESPONSE", "PLAN_END"],
    ]
    error = rows[3]["data"]["error"]
    assert error.startswith("ExecuteTool(web_search): DEADLINE_EXCEEDED"), error
    assert f"Tool error: {error}" in second_request
    [failed] = events_of(planner, "tool_call_failed", "trace-hung-sandbox")
    assert failed["tool"] == "web_search"
