"""Degraded paths over real processes: max turns, tool RPC failure, RAG and history down,
Chroma down behind memory, the gateway breaker opening and recovering, and Redis going
away and coming back."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.core_services import (
    CoreStack,
    NotificationListener,
    PlannerClient,
    gateway_process,
    has_status,
    notifier_process,
    unused_address,
)
from tests.support.fake_openai import FakeOpenAI
from tests.support.logs import logged, settled_events, wait_for_log
from tests.support.memory import chroma_server_process, memory_process
from tests.support.polling import wait_until
from tests.support.processes import free_port, redis_process
from tests.support.spawning import Spawner

MAX_TURNS_MESSAGE = "Max turns reached; unable to complete request."
ALWAYS_A_TOOL = json.dumps({"tool": {"name": "web_search", "args": {"query": "once more"}}})
HELLO = "Generate a 3-step plan to water the plants"


def test_a_model_that_always_wants_a_tool_hits_max_turns(
    core_stack: CoreStack, spawn: Spawner, tmp_path: Path
) -> None:
    with FakeOpenAI() as fake:
        fake.always(ALWAYS_A_TOOL)
        gateway = core_stack.start_openai_gateway(
            spawn, tmp_path / "gateway", fake.base_url, OPENAI_MODEL_NAME="fake-model"
        )
        planner = core_stack.start_planner(spawn, tmp_path / "planner", MODEL_GATEWAY_ADDR=gateway)
        with NotificationListener(core_stack.ports.redis) as listener:
            reply = planner.plan("Keep searching forever", "s-max", trace_id="trace-max-1")
            payloads = listener.wait_for("trace-max-1", has_status("MAX_TURNS"))
        assert len(fake.requests) == 3

    assert reply.status_code == 200
    assert reply.json() == {"result": MAX_TURNS_MESSAGE}
    rows = planner.audit_rows("trace-max-1")
    assert [r["event_type"] for r in rows] == [
        "PLAN_START",
        *["PLAN_MODEL_RESPONSE", "TOOL_CALL", "TOOL_RESULT"] * 3,
        "PLAN_END",
    ]
    assert rows[-1]["data"] == {"result": MAX_TURNS_MESSAGE, "reason": "max_turns"}
    assert [p.get("status") for p in payloads] == ["STARTED", "MAX_TURNS"]
    assert not settled_events(planner.process, "playbook_stored")


def test_a_tool_rpc_failure_is_fed_back_as_tool_error(
    core_stack: CoreStack, spawn: Spawner, tmp_path: Path
) -> None:
    planner = core_stack.start_planner(
        spawn, tmp_path, RUST_SANDBOX_GRPC_ADDR=unused_address(), AGENT_MAX_TURNS="2"
    )
    reply = planner.plan("Search the web for tide tables", "s-toolerr", trace_id="trace-toolerr")
    assert reply.status_code == 200
    assert reply.json() == {"result": MAX_TURNS_MESSAGE}
    rows = planner.audit_rows("trace-toolerr")
    assert [r["event_type"] for r in rows] == [
        "PLAN_START",
        *["PLAN_MODEL_RESPONSE", "TOOL_CALL", "TOOL_ERROR"] * 2,
        "PLAN_END",
    ]
    error = rows[3]["data"]
    assert error["tool"] == "web_search"
    assert error["error"].startswith("ExecuteTool(web_search): UNAVAILABLE")
    # the error is appended to the prompt of the next turn, which the mock echoes
    second_prompt = json.loads(rows[4]["data"]["plan"])["prompt"]
    assert second_prompt == f"Search the web for tide tables\n\nTool error: {error['error']}"


def test_rag_and_history_down_the_loop_goes_on(
    core_stack: CoreStack, spawn: Spawner, tmp_path: Path
) -> None:
    planner = core_stack.start_planner(
        spawn,
        tmp_path,
        MEMORY_GRPC_ADDR=unused_address(),
        MEMORY_URL=f"http://{unused_address()}",
    )
    for attempt in range(6):
        reply = planner.plan(HELLO, "s-ragdown", trace_id=f"trace-ragdown-{attempt}")
        assert reply.status_code == 200, reply.text
        assert json.loads(reply.json()["result"])["prompt"] == HELLO
    unavailable = logged(planner.process, "rag_context_unavailable", count=6)
    assert len(unavailable) == 6
    assert unavailable[0]["error"].startswith("GetPlanContext: UNAVAILABLE")
    assert "circuit breaker for memory-rag is open" in unavailable[-1]["error"]
    opened = settled_events(planner.process, "breaker_opened", 1)
    assert [b["breaker"] for b in opened] == ["memory-rag"]
    assert len(settled_events(planner.process, "session_history_unavailable", 6)) == 6
    # The answer's session write fails too: logged, and audited after PLAN_END.
    assert len(settled_events(planner.process, "session_store_failed", 6)) == 6
    rows = planner.audit_rows("trace-ragdown-0")
    assert [r["event_type"] for r in rows] == [
        "PLAN_START",
        "PLAN_MODEL_RESPONSE",
        "PLAN_END",
        "MEMORY_WRITE_ERROR",
    ]
    assert rows[-1]["data"]["write"] == "session"
    assert rows[-1]["data"]["error"].startswith("memory /memory/store: ")


def test_chroma_down_costs_rag_context_not_history(
    core_stack: CoreStack, spawn: Spawner, tmp_path: Path
) -> None:
    """Memory answers GetPlanContext with its RAG part failed: the history still frames the
    prompt, and the failures open the RAG breaker, after which history comes over HTTP."""
    chroma = spawn(chroma_server_process(tmp_path / "chroma"))
    library = tmp_path / "kb" / "Body-KB"
    library.mkdir(parents=True)
    (library / "plants.txt").write_text("Water the plants every morning.")
    memory = spawn(
        memory_process(
            tmp_path / "memory",
            CHROMA_HOST="127.0.0.1",
            CHROMA_PORT=str(chroma.port),
            KNOWLEDGE_BASES_DIR=str(library.parent),
        )
    )
    memory.wait_for_ingestion()
    planner = core_stack.start_planner(
        spawn,
        tmp_path / "planner",
        MEMORY_GRPC_ADDR=memory.address,
        MEMORY_URL=memory.url,
        AGENT_BREAKER_FAILURES="2",
    )
    assert planner.plan(HELLO, "s-chroma-down").status_code == 200
    chroma.kill()
    for attempt in range(3):
        reply = planner.plan(HELLO, "s-chroma-down", trace_id=f"trace-chroma-down-{attempt}")
        assert reply.status_code == 200, reply.text
    errors = [e["error"] for e in logged(planner.process, "rag_context_unavailable", count=3)]
    assert len(errors) == 3
    assert all(
        e.startswith("GetPlanContext: RAG: dependency unavailable: chroma") for e in errors[:2]
    )
    assert "circuit breaker for memory-rag is open" in errors[2]
    opened = settled_events(planner.process, "breaker_opened", 1)
    assert [b["breaker"] for b in opened] == ["memory-rag"]
    assert not settled_events(planner.process, "session_history_unavailable")
    method = "/modelgateway.ModelGateway/GetPlanContext"
    assert logged(memory, "grpc_request", trace_id="trace-chroma-down-0", method=method)
    # breaker open: history alone
    assert logged(memory, "http_request", trace_id="trace-chroma-down-2", path="/memory/latest")


def test_gateway_breaker_opens_after_five_failures_and_recovers(
    core_stack: CoreStack, spawn: Spawner, tmp_path: Path
) -> None:
    grpc_port, http_port = free_port(), free_port()
    memory_port = core_stack.memory.grpc_port
    gateway = spawn(gateway_process(tmp_path / "gw", grpc_port, http_port, memory_port))
    planner = core_stack.start_planner(
        spawn, tmp_path / "planner", MODEL_GATEWAY_ADDR=f"localhost:{grpc_port}"
    )
    assert planner.plan(HELLO, "s-breaker").status_code == 200

    gateway.stop()
    for _ in range(5):
        reply = planner.plan(HELLO, "s-breaker")
        assert reply.status_code == 500
        assert reply.json()["error"].startswith("Agent execution failed: GetPlan: UNAVAILABLE")
    rejected = planner.plan(HELLO, "s-breaker", trace_id="trace-breaker-open")
    assert rejected.status_code == 500
    assert rejected.json()["error"].startswith(
        "Agent execution failed: GetPlan: circuit breaker for model-gateway is open"
    )
    assert planner.audit_events("trace-breaker-open") == ["PLAN_START", "PLAN_ERROR"]

    opened = settled_events(planner.process, "breaker_opened", 1)
    assert [e["consecutive_failures"] for e in opened] == [5]
    spawn(gateway_process(tmp_path / "gw", grpc_port, http_port, memory_port))
    wait_until(
        lambda: planner.plan(HELLO, "s-breaker").status_code == 200,
        "the planner answering again once the gateway is back",
        interval=0.5,
    )
    assert logged(planner.process, "breaker_half_open")
    assert logged(planner.process, "breaker_closed")


def test_redis_down_then_up_notifications_resume(
    core_stack: CoreStack, spawn: Spawner, tmp_path: Path
) -> None:
    port = free_port()
    first_redis = spawn(redis_process(tmp_path / "redis-1", port))
    notifier = spawn(notifier_process(tmp_path / "notifier", port))
    planner = core_stack.start_planner(spawn, tmp_path / "planner", REDIS_ADDR=f"127.0.0.1:{port}")
    with NotificationListener(port) as listener:
        planner.plan(HELLO, "s-redis", trace_id="trace-redis-before")
        assert listener.wait_for("trace-redis-before", has_status("COMPLETED"))

    first_redis.stop()
    reply = planner.plan(HELLO, "s-redis", trace_id="trace-redis-down")
    assert reply.status_code == 200
    assert planner.audit_events("trace-redis-down")[-1] == "PLAN_END"
    wait_for_log(planner.process, "redis_unavailable")
    wait_for_log(notifier, "redis_unavailable")

    offset = len(notifier.log())
    spawn(redis_process(tmp_path / "redis-2", port))
    wait_for_log(notifier, '"subscribed"', after=offset)
    with NotificationListener(port) as listener:
        trace_id = resumed_trace_id(planner, listener)
    wait_for_log(notifier, trace_id)
    # Logged after the publish succeeds, so possibly just after a subscriber saw it.
    wait_for_log(planner.process, '"redis_connected"')


def resumed_trace_id(planner: PlannerClient, listener: NotificationListener) -> str:
    """Plan until a run's COMPLETED notification arrives; return that run's trace id."""
    sent: list[str] = []
    for attempt in range(20):
        sent.append(f"trace-redis-after-{attempt}")
        assert planner.plan(HELLO, "s-redis", trace_id=sent[-1]).status_code == 200
        listener.wait_for(sent[-1], has_status("COMPLETED"), timeout=2)
        # A notification that arrives late for an earlier run counts as well.
        done = [t for t in sent if has_status("COMPLETED")(listener.for_trace(t))]
        if done:
            return done[0]
    raise AssertionError("notifications did not resume after Redis came back")
