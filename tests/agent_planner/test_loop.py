"""The agent loop end to end over real memory, sandbox, gateway (mock), Redis and notifier
processes: the hello path, the search path with its learned playbook, and trace ids."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from tests.support.core_services import CoreStack, NotificationListener, PlannerClient, has_status
from tests.support.fake_openai import FakeOpenAI
from tests.support.logs import log_events, logged, settled_events, wait_for_log
from tests.support.spawning import Spawner
from tests.support.timestamps import assert_utc_between, utc_now

HELLO = "Generate a 3-step plan to tidy my desk"
SEARCH = "Search the web for the latest Python release"
THREE_STEPS = [
    "Restate the objective in one sentence and identify constraints.",
    "Propose a minimal 3-step plan with clear inputs/outputs.",
    "Return the plan as strict JSON for downstream parsing.",
]


def session_messages(stack: CoreStack, session_id: str) -> list[dict[str, Any]]:
    reply = httpx.get(f"{stack.memory.url}/memory/latest", params={"session_id": session_id})
    return [{"role": m["role"], "content": m["content"]} for m in reply.json()["messages"]]


@dataclass
class ObservedPlanner:
    """A planner whose gateway asks a loopback OpenAI fake, so tests can read the exact
    planner input (the mock only echoes the user's prompt)."""

    planner: PlannerClient
    fake: FakeOpenAI
    gateway: str  # the gRPC address of the gateway that asks the fake

    def input_via(self, planner: PlannerClient, prompt: str, session_id: str) -> str:
        """The planner input another planner on the same gateway sends."""
        seen = len(self.fake.requests)
        reply = planner.plan(prompt, session_id)
        assert reply.status_code == 200, reply.text
        return self.fake.requests[seen].user_prompt

    def planner_input(self, prompt: str, session_id: str) -> str:
        seen = len(self.fake.requests)
        reply = self.planner.plan(prompt, session_id)
        assert reply.status_code == 200, reply.text
        return self.fake.requests[seen].user_prompt


@pytest.fixture(scope="module")
def observed(
    core_stack: CoreStack, module_spawn: Spawner, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ObservedPlanner]:
    workdir = tmp_path_factory.mktemp("observed")
    with FakeOpenAI() as fake:
        gateway = core_stack.start_openai_gateway(module_spawn, workdir / "gateway", fake.base_url)
        planner = core_stack.start_planner(
            module_spawn, workdir / "planner", MODEL_GATEWAY_ADDR=gateway
        )
        yield ObservedPlanner(planner, fake, gateway)


@pytest.fixture(scope="module")
def hello_run(core_stack: CoreStack) -> dict[str, Any]:
    with NotificationListener(core_stack.ports.redis) as listener:
        before = utc_now()
        reply = core_stack.planner.plan(HELLO, "s-hello", trace_id="trace-hello-1")
        payloads = listener.wait_for("trace-hello-1", has_status("COMPLETED"))
        after = utc_now()  # publishing may finish after the reply
    return {"reply": reply, "notifications": payloads, "clock": (before, after)}


def test_hello_path_answers_with_the_plan(hello_run: dict[str, Any]) -> None:
    reply: httpx.Response = hello_run["reply"]
    assert reply.status_code == 200, reply.text
    assert reply.headers["X-Trace-ID"] == "trace-hello-1"
    plan = json.loads(reply.json()["result"])
    assert plan["steps"] == THREE_STEPS
    assert plan["model_type"] == "mock"
    assert plan["prompt"] == HELLO


def test_hello_path_audit_rows_in_order(core_stack: CoreStack, hello_run: dict[str, Any]) -> None:
    rows = core_stack.planner.audit_rows("trace-hello-1")
    assert [r["event_type"] for r in rows] == ["PLAN_START", "PLAN_MODEL_RESPONSE", "PLAN_END"]
    assert {r["session_id"] for r in rows} == {"s-hello"}
    result = hello_run["reply"].json()["result"]
    assert rows[1]["data"] == {"plan": result}
    assert rows[2]["data"] == {"result": result}
    assert rows[0]["data"]["prompt"] == HELLO


def test_hello_path_notifications(hello_run: dict[str, Any]) -> None:
    payloads = hello_run["notifications"]
    result = hello_run["reply"].json()["result"]
    assert [p.get("status", "result") for p in payloads] == ["STARTED", "result", "COMPLETED"]
    assert set(payloads[0]) == {"trace_id", "session_id", "status", "timestamp"}
    assert set(payloads[1]) == {"trace_id", "session_id", "result", "timestamp"}
    assert payloads[1]["result"] == result
    assert all(p["session_id"] == "s-hello" for p in payloads)
    for payload in payloads:  # the planner runs in UTC+05:30 (tests.support.processes)
        assert payload["timestamp"].endswith("Z"), payload
        assert_utc_between(payload["timestamp"], *hello_run["clock"])


def test_hello_path_reaches_the_notifier(core_stack: CoreStack, hello_run: dict[str, Any]) -> None:
    line = json.loads(wait_for_log(core_stack["notifier"], "trace-hello-1"))
    assert line["trace_id"] == "trace-hello-1"
    assert "trace-hello-1" in line["payload"]


def test_hello_path_stores_the_session_delta(
    core_stack: CoreStack, hello_run: dict[str, Any]
) -> None:
    assert session_messages(core_stack, "s-hello") == [
        {"role": "user", "content": HELLO},
        {"role": "assistant", "content": hello_run["reply"].json()["result"]},
    ]


def test_trace_id_reaches_gateway_and_memory_logs(
    core_stack: CoreStack, hello_run: dict[str, Any]
) -> None:
    line = json.loads(wait_for_log(core_stack["gateway"], "trace-hello-1"))
    assert line["trace_id"] == "trace-hello-1"
    memory, trace = core_stack["memory"], "trace-hello-1"
    # history and RAG context (one call) and the session write carry the request's trace id
    assert logged(memory, "http_request", trace_id=trace, path="/memory/store")
    method = "/modelgateway.ModelGateway/GetPlanContext"
    assert logged(memory, "grpc_request", trace_id=trace, method=method)


def test_second_turn_sees_the_session_history(
    observed: ObservedPlanner, hello_run: dict[str, Any]
) -> None:
    framed = observed.planner_input("And now in two steps", "s-hello")
    answer = hello_run["reply"].json()["result"]
    assert f"<session_history>\nuser: {HELLO}\nassistant: {answer}\n</session_history>" in framed


def rag_section(framed: str) -> str:
    return framed.split("<rag_context>\n", 1)[1].split("</rag_context>", 1)[0]


def test_a_memory_without_get_plan_context_gets_one_call_each(
    core_stack: CoreStack, observed: ObservedPlanner, spawn: Spawner, tmp_path: Path
) -> None:
    """Against an older memory, which serves GetRAGContext but not GetPlanContext (the
    gateway's GetRAGContext proxy stands in for one), the planner fetches history and RAG
    context with a call each, and frames the same input."""
    older_memory = f"localhost:{core_stack.ports.gateway_grpc}"
    planner = core_stack.start_planner(
        spawn, tmp_path, MODEL_GATEWAY_ADDR=observed.gateway, MEMORY_GRPC_ADDR=older_memory
    )
    prompt = "Which tool runs Python code?"
    steps = [{"role": "user", "content": prompt}, {"role": "tool", "content": "python_exec"}]
    playbook = {"session_id": "s-older-memory-0", "prompt": prompt, "history_sequence": steps}
    reply = httpx.post(f"{core_stack.memory.url}/memory/playbook", json=playbook, timeout=30)
    assert reply.status_code == 200, reply.text
    first = observed.planner_input(prompt, "s-older-memory")  # one GetPlanContext call
    second = observed.input_via(planner, prompt, "s-older-memory")
    assert rag_section(second) == rag_section(first)
    assert f"**Mind-KB**\nID: {reply.json()['playbook_id']}\n" in rag_section(second)
    history = second.split("<session_history>\n", 1)[1].split("</session_history>", 1)[0]
    assert history.startswith(f"user: {prompt}\nassistant: ")
    third = observed.input_via(planner, prompt, "s-older-memory")
    assert third.count(f"user: {prompt}\n") == 2  # both earlier turns in its history
    [unsupported] = logged(planner.process, "plan_context_unsupported")
    assert unsupported["instead"] == "GET /memory/latest and GetRAGContext"
    assert not settled_events(planner.process, "rag_context_unavailable")


def test_history_too_large_for_one_reply_comes_over_http(
    core_stack: CoreStack, observed: ObservedPlanner
) -> None:
    big = "y" * 900_000
    for _ in range(5):  # 4.5 MB of history: more than one gRPC reply may carry
        body = {"session_id": "s-big-history", "history": [{"role": "user", "content": big}]}
        reply = httpx.post(f"{core_stack.memory.url}/memory/store", json=body, timeout=30)
        assert reply.status_code == 200, reply.text
    framed = observed.planner_input("Summarise that", "s-big-history")
    history = framed.split("<session_history>\n", 1)[1].split("</session_history>", 1)[0]
    lines = history.splitlines()
    assert len(lines) == 5
    assert all(line.startswith("user: yyy") and "...[truncated " in line for line in lines)
    apart = logged(observed.planner.process, "plan_context_history_apart")
    assert apart and apart[-1]["reason"].startswith("history too large for one reply")
    assert not settled_events(observed.planner.process, "session_history_unavailable")


@pytest.fixture(scope="module")
def search_run(core_stack: CoreStack) -> dict[str, Any]:
    with NotificationListener(core_stack.ports.redis) as listener:
        reply = core_stack.planner.plan(SEARCH, "s-search", trace_id="trace-search-1")
        payloads = listener.wait_for("trace-search-1", has_status("COMPLETED"))
    return {"reply": reply, "notifications": payloads}


def test_search_finishes_after_one_web_search(
    core_stack: CoreStack, search_run: dict[str, Any]
) -> None:
    reply: httpx.Response = search_run["reply"]
    assert reply.status_code == 200, reply.text
    final = json.loads(reply.json()["result"])
    assert "tool" not in final and final["steps"]
    rows = core_stack.planner.audit_rows("trace-search-1")
    assert [r["event_type"] for r in rows] == [
        "PLAN_START",
        "PLAN_MODEL_RESPONSE",
        "TOOL_CALL",
        "TOOL_RESULT",
        "PLAN_MODEL_RESPONSE",
        "PLAN_END",
    ]
    assert rows[2]["data"] == {"tool": "web_search", "args": {"query": SEARCH}}
    output = json.loads(rows[3]["data"]["output"])
    assert rows[3]["data"]["tool"] == "web_search"
    assert set(output) == {"status", "stdout", "stderr"}
    assert output["status"] == "ok"
    assert json.loads(output["stdout"])["provider"] == "mock"
    assert rows[5]["data"] == {"result": reply.json()["result"]}


def test_search_feeds_the_tool_result_into_the_next_prompt(
    core_stack: CoreStack, search_run: dict[str, Any]
) -> None:
    rows = core_stack.planner.audit_rows("trace-search-1")
    output = rows[3]["data"]["output"]
    final = json.loads(rows[4]["data"]["plan"])
    # the mock answers from the last <tool_result> of its input, for the objective before it
    assert final["prompt"] == SEARCH
    assert final["steps"][:2] == [f"Objective: {SEARCH}", f"Tool output received: {output}"]


def test_search_stores_tool_steps_in_the_session(
    core_stack: CoreStack, search_run: dict[str, Any]
) -> None:
    rows = core_stack.planner.audit_rows("trace-search-1")
    messages = session_messages(core_stack, "s-search")
    assert messages[:4] == [
        {"role": "user", "content": "[tool-plan]"},
        {"role": "assistant", "content": rows[1]["data"]["plan"]},
        {"role": "user", "content": "[tool-output]"},
        {"role": "assistant", "content": rows[3]["data"]["output"]},
    ]
    assert messages[4] == {"role": "user", "content": SEARCH}
    assert messages[5] == {"role": "assistant", "content": search_run["reply"].json()["result"]}


def rag(stack: CoreStack, query: str, kbs: list[str]) -> list[pb.RAGMatch]:
    with grpc.insecure_channel(stack.memory.address) as channel:
        reply = pb_grpc.ModelGatewayStub(channel).GetRAGContext(
            pb.RAGContextRequest(query=query, top_k=1, knowledge_bases=kbs), timeout=30
        )
    return list(reply.matches)


def test_search_playbook_comes_back_from_mind_kb(
    core_stack: CoreStack, search_run: dict[str, Any]
) -> None:
    assert search_run["reply"].status_code == 200
    matches = rag(core_stack, "search the web for the newest Python version", ["Mind-KB"])
    assert matches, "no playbook in Mind-KB"
    text = matches[0].text
    assert matches[0].knowledge_base == "Mind-KB"
    assert text.startswith(f"Playbook for: {SEARCH}\n---\nSteps:\n1) User prompt: {SEARCH}\n")
    assert "web_search" in text and "Tool returned:" in text


def test_a_similar_prompt_later_gets_the_playbook_as_context(
    observed: ObservedPlanner, search_run: dict[str, Any]
) -> None:
    assert search_run["reply"].status_code == 200
    framed = observed.planner_input("Which Python release is the newest one?", "s-later")
    context = framed.split("<rag_context>\n", 1)[1].split("</rag_context>", 1)[0]
    assert "**Mind-KB**\nID: " in context
    assert f"Text: Playbook for: {SEARCH}" in context


def test_metrics_count_successful_runs(core_stack: CoreStack) -> None:
    def successes() -> float:
        prefix = 'agent_plan_total{outcome="success"} '
        lines = core_stack.planner.metrics().splitlines()
        return sum(float(line.split()[-1]) for line in lines if line.startswith(prefix))

    before = successes()
    for n in range(2):
        assert core_stack.planner.plan(HELLO, f"s-counted-{n}").status_code == 200
    assert successes() == before + 2
    assert "agent_loop_duration_seconds_bucket" in core_stack.planner.metrics()


def test_resources_reach_the_audit_log_and_the_gateway(core_stack: CoreStack) -> None:
    resources = [
        {"type": "image", "uri": "file:///tmp/desk.png"},
        {"type": "audio", "uri": "file:///tmp/note.wav"},
    ]
    reply = core_stack.planner.plan(HELLO, "s-res", trace_id="trace-res-1", resources=resources)
    assert reply.status_code == 200
    start = core_stack.planner.audit_rows("trace-res-1")[0]
    assert start["data"]["resources"] == resources
    line = json.loads(wait_for_log(core_stack["gateway"], '"trace-res-1"'))
    requests = [
        json.loads(raw)
        for raw in core_stack["gateway"].log().splitlines()
        if '"trace-res-1"' in raw and '"plan_request"' in raw
    ]
    assert line and requests[0]["resource_count"] == 2
    assert sorted(requests[0]["resource_types"]) == ["audio", "image"]


def test_every_service_runs_on_uvloop_with_its_start_up_heap_frozen(core_stack: CoreStack) -> None:
    for name, proc in core_stack.processes.items():
        if name == "redis":
            continue
        (serving,) = log_events(proc, "serving")
        assert serving["event_loop"] == "uvloop", name
        assert serving["frozen_objects"] > 10_000, name  # modules and apps, out of the collector
