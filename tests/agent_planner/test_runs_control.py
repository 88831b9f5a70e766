"""Runs under control: cancel while GetPlan or a sandbox program is in flight, a full queue,
cancelling queued runs, and kill -9 of the planner mid-run. The model is a loopback OpenAI
fake whose replies the test holds open, so a run stays mid-step exactly as long as needed."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.core_services import CoreStack, PlannerClient, planner_process
from tests.support.core_services import gateway_process as start_gateway
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.logs import log_events, log_records, settled_events
from tests.support.processes import ServiceProcess, free_port
from tests.support.spawning import Spawner
from tests.support.sse import SseComment, SseEvent, events_only, parse_stream, read_events

FINAL = '{"steps": ["done"]}'


def tool_call(name: str, **args: Any) -> str:
    return json.dumps({"tool": {"name": name, "args": args}})


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(Reply.text(FINAL)) as server:
        yield server


@pytest.fixture(scope="module")
def gateway_on_fake_model(
    core_stack: CoreStack, module_spawn: Spawner, fake: FakeOpenAI, tmp_path_factory: Any
) -> ServiceProcess:
    """A gateway on the fake model, with a deadline longer than any held reply."""
    grpc_port, http_port = free_port(), free_port()
    return module_spawn(
        start_gateway(
            tmp_path_factory.mktemp("runs-gateway"),
            grpc_port,
            http_port,
            core_stack.memory.grpc_port,
            LLM_PROVIDER="openai",
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_API_KEY="test-key",
            REQUEST_TIMEOUT_SECONDS="300",
        )
    )


@pytest.fixture(scope="module")
def gateway(gateway_on_fake_model: ServiceProcess) -> str:
    port = gateway_on_fake_model.env["MODEL_GATEWAY_GRPC_PORT"]
    return f"localhost:{port}"


@pytest.fixture(scope="module")
def planner(
    core_stack: CoreStack, module_spawn: Spawner, gateway: str, tmp_path_factory: Any
) -> PlannerClient:
    workdir = tmp_path_factory.mktemp("runs-planner")
    return core_stack.start_planner(
        module_spawn,
        workdir,
        MODEL_GATEWAY_ADDR=gateway,
        AGENT_MAX_CONCURRENT_RUNS="1",
        AGENT_RUN_QUEUE_SIZE="1",
        AGENT_GATEWAY_TIMEOUT_SECONDS="300",
        AGENT_TOOL_TIMEOUT_SECONDS="120",
        AGENT_SSE_HEARTBEAT_SECONDS="0.5",
    )


@pytest.fixture
def gate(fake: FakeOpenAI) -> Iterator[threading.Event]:
    """Held replies wait for this; it is released when the test ends either way."""
    fake.reset()
    released = threading.Event()
    yield released
    released.set()


def start_run(
    planner: PlannerClient, prompt: str = "do it", session: str = "s-ctl"
) -> httpx.Response:
    return httpx.post(
        f"{planner.url}/runs",
        json={"prompt": prompt, "session_id": session},
        headers=planner.headers(),
        timeout=30,
    )


def cancel(planner: PlannerClient, run_id: str) -> httpx.Response:
    return httpx.post(f"{planner.url}/runs/{run_id}/cancel", headers=planner.headers(), timeout=30)


def held_run(
    planner: PlannerClient, fake: FakeOpenAI, gate: threading.Event, session: str
) -> tuple[str, str]:
    """A run whose model answers once gate is set: its id and the URL of its events."""
    fake.push(Reply.held(FINAL, gate))
    run_id = start_run(planner, session=session).json()["run_id"]
    return run_id, f"{planner.url}/runs/{run_id}/events"


def get_run(planner: PlannerClient, run_id: str) -> dict[str, Any]:
    return dict(httpx.get(f"{planner.url}/runs/{run_id}", headers=planner.headers()).json())


def wait_for(check: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} not seen after {timeout}s")


def test_reconnect_mid_run_gets_only_the_missed_events(
    planner: PlannerClient, fake: FakeOpenAI, gate: threading.Event
) -> None:
    fake.push(Reply.text(tool_call("web_search", query="pagi")), Reply.held(FINAL, gate))
    run_id = start_run(planner).json()["run_id"]
    url = f"{planner.url}/runs/{run_id}/events"
    first = read_events(url, planner.headers(), until="tool.finished")
    seen = first[-1].id
    assert seen is not None and [e.id for e in first] == list(range(1, seen + 1))
    headers = planner.headers(**{"Last-Event-ID": str(seen - 1)})
    with httpx.stream("GET", url, headers=headers, timeout=60) as response:
        events = events_only(parse_stream(response.iter_lines()))
        replayed = next(events)
        assert (replayed.id, replayed.event) == (seen, "tool.finished")
        gate.set()  # the run continues only now, while this reader is attached
        rest = list(events)
    assert [e.id for e in rest] == list(range(seen + 1, seen + 1 + len(rest)))
    kinds = [e.event for e in rest]
    deltas = kinds.count("plan.delta")  # coalesced: how many depends on the stream's pace
    assert deltas >= 1
    assert kinds == [
        "context.retrieved",
        *["plan.delta"] * deltas,
        "plan.received",
        "run.succeeded",
    ]
    streamed = "".join(e.data["delta"] for e in rest if e.event == "plan.delta")
    assert streamed == FINAL, "the model's text, as the provider wrote it"


def test_cancel_during_getplan_cancels_the_call(
    gateway_on_fake_model: ServiceProcess,
    planner: PlannerClient,
    fake: FakeOpenAI,
    gate: threading.Event,
) -> None:
    fake.push(Reply.held(FINAL, gate))
    trace_id = f"trace-cancel-{uuid.uuid4().hex[:8]}"
    reply = httpx.post(
        f"{planner.url}/runs",
        json={"prompt": "hold on", "session_id": "s-ctl-cancel"},
        headers=planner.headers(**{"X-Trace-ID": trace_id}),
    )
    run_id = reply.json()["run_id"]
    read_events(f"{planner.url}/runs/{run_id}/events", planner.headers(), until="context.retrieved")
    wait_for(lambda: fake.requests, "the model request")
    cancelled = cancel(planner, run_id)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancel(planner, run_id).status_code == 200  # idempotent
    events = read_events(f"{planner.url}/runs/{run_id}/events", planner.headers())
    assert [e.event for e in events][-1] == "run.cancelled"
    assert sum(e.event.startswith("run.") and e.event != "run.queued" for e in events) == 2
    audit = planner.audit_rows(trace_id)
    assert [r["event_type"] for r in audit][-2:] == ["RUN_CANCELLED", "PLAN_END"]
    assert audit[-1]["data"]["reason"] == "cancelled"
    gateway_log = wait_for(
        lambda: [
            r
            # the call's line: plan_request, or grpc_request when it ended before the plan
            for r in log_records(gateway_on_fake_model.log())
            if r.get("trace_id") == trace_id and r.get("code") == "CANCELLED"
        ],
        "StreamPlan cancelled at the gateway",
    )
    assert gateway_log[0]["method"].endswith("/StreamPlan")


def marker_processes(marker: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in text:
            found.append(f"{cmdline.parent.name}: {text}")
    return found


def sleeping_program(marker: str) -> str:
    child = f"import time; time.sleep(30)  # {marker}"
    parent = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {child!r}, '{marker}-child'])\n"
        "time.sleep(30)\n"
    )
    argv = f"[sys.executable, '-c', {parent!r}, '{marker}']"
    return f"import os, sys\nos.execv(sys.executable, {argv})\n"


def test_cancel_during_a_sandbox_program_leaves_no_process(
    planner: PlannerClient, fake: FakeOpenAI, gate: threading.Event
) -> None:
    marker = f"pagi-cancel-{uuid.uuid4().hex}"
    fake.push(
        Reply.text(tool_call("execute_code", language="python", code=sleeping_program(marker)))
    )
    run_id = start_run(planner, session="s-ctl-sleep").json()["run_id"]
    read_events(f"{planner.url}/runs/{run_id}/events", planner.headers(), until="tool.started")
    wait_for(lambda: len(marker_processes(marker)) >= 2, "the program and its child")
    cancelled = cancel(planner, run_id)
    assert cancelled.json()["status"] == "cancelled"
    events = read_events(f"{planner.url}/runs/{run_id}/events", planner.headers())
    assert events[-1].event == "run.cancelled"
    assert "tool.finished" not in [e.event for e in events]
    deadline = time.monotonic() + 10
    while marker_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker_processes(marker) == []


def test_idle_stream_gets_comment_heartbeats(
    planner: PlannerClient, fake: FakeOpenAI, gate: threading.Event
) -> None:
    _, url = held_run(planner, fake, gate, "s-ctl-idle")
    with httpx.stream("GET", url, headers=planner.headers(), timeout=60) as response:
        items = parse_stream(response.iter_lines())
        seen = []
        for item in items:
            seen.append(item)
            if isinstance(item, SseComment):
                break
        assert planner.metric("agent_run_stream_readers") == 1  # this reader, attached
        gate.set()
        seen.extend(items)
    assert SseComment("ping") in seen
    events = [item for item in seen if isinstance(item, SseEvent)]
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert events[-1].event == "run.succeeded"


def test_a_reader_that_leaves_is_let_go_while_the_run_goes_on(
    planner: PlannerClient, fake: FakeOpenAI, gate: threading.Event
) -> None:
    run_id, url = held_run(planner, fake, gate, "s-ctl-leave")
    read_events(url, planner.headers(), until="context.retrieved")  # reads, then hangs up
    deadline = time.monotonic() + 10
    while planner.metric("agent_run_stream_readers") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert planner.metric("agent_run_stream_readers") == 0
    assert get_run(planner, run_id)["status"] == "running"
    gate.set()
    events = read_events(url, planner.headers())
    assert events[-1].event == "run.succeeded"


def test_full_queue_answers_429_and_queued_runs_cancel(
    planner: PlannerClient, fake: FakeOpenAI, gate: threading.Event
) -> None:
    fake.push(Reply.held(FINAL, gate))
    running = start_run(planner, session="s-ctl-queue").json()["run_id"]
    read_events(f"{planner.url}/runs/{running}/events", planner.headers(), until="run.started")
    queued = start_run(planner, session="s-ctl-queue")
    assert queued.status_code == 202
    refused = start_run(planner, session="s-ctl-queue")
    assert refused.status_code == 429
    assert planner.metric("agent_run_queue_depth") == 1
    assert planner.metric("agent_runs_in_flight") == 1
    assert refused.headers["Retry-After"] == "1"
    assert "retry later" in refused.json()["error"]
    queued_id = queued.json()["run_id"]
    assert cancel(planner, queued_id).json()["status"] == "cancelled"
    events = read_events(f"{planner.url}/runs/{queued_id}/events", planner.headers())
    assert [e.event for e in events] == ["run.queued", "run.cancelled"]
    again = start_run(planner, session="s-ctl-queue")
    assert again.status_code == 202  # room again
    cancelled_before = planner.metric("agent_runs_total", status="cancelled")
    for run_id in (again.json()["run_id"], running):  # leave no run to take later replies
        assert cancel(planner, run_id).json()["status"] == "cancelled"
    assert planner.metric("agent_runs_total", status="cancelled") == cancelled_before + 2


def test_another_planner_streams_and_cancels_a_run(
    core_stack: CoreStack,
    planner: PlannerClient,
    spawn: Spawner,
    gateway: str,
    fake: FakeOpenAI,
    gate: threading.Event,
    tmp_path: Path,
) -> None:
    """Two planners on one database: the second follows the first's run live (woken over
    Redis) and its cancel reaches the process executing the run."""
    other = core_stack.start_planner(
        spawn, tmp_path, MODEL_GATEWAY_ADDR=gateway, PAGI_AUDIT_DB_PATH=str(planner.audit_db)
    )
    fake.push(Reply.held(FINAL, gate))
    run_id = start_run(planner, session="s-ctl-other").json()["run_id"]
    url = f"{other.url}/runs/{run_id}/events"
    live = read_events(url, other.headers(), until="context.retrieved")
    assert [e.event for e in live] == ["run.queued", "run.started", "context.retrieved"]
    asked = cancel(other, run_id)
    assert asked.status_code == 202, asked.text
    events = read_events(url, other.headers())
    assert events[-1].event == "run.cancelled"
    assert get_run(planner, run_id)["status"] == "cancelled"


def test_a_reader_on_another_planner_is_woken_for_each_new_event(
    core_stack: CoreStack,
    planner: PlannerClient,
    spawn: Spawner,
    gateway: str,
    fake: FakeOpenAI,
    gate: threading.Event,
    tmp_path: Path,
) -> None:
    """The second planner neither polls nor sends heartbeats within the read timeout, so its
    reader sees the run go on only if the executing planner announces the events over Redis
    (which it does for runs another process watches)."""
    other = core_stack.start_planner(
        spawn,
        tmp_path,
        MODEL_GATEWAY_ADDR=gateway,
        PAGI_AUDIT_DB_PATH=str(planner.audit_db),
        AGENT_SSE_POLL_SECONDS="600",
        AGENT_SSE_HEARTBEAT_SECONDS="600",
    )
    wait_for(lambda: log_events(other.process, "run_hub_subscribed"), "the hub subscribed")
    fake.push(Reply.held(FINAL, gate))
    run_id = start_run(planner, session="s-ctl-woken").json()["run_id"]
    url = f"{other.url}/runs/{run_id}/events"
    with httpx.stream("GET", url, headers=other.headers(), timeout=30) as response:
        events = events_only(parse_stream(response.iter_lines()))
        seen = [next(events) for _ in range(3)]
        assert [e.event for e in seen] == ["run.queued", "run.started", "context.retrieved"]
        gate.set()  # the run goes on only now, while the other planner's reader waits
        rest = [e.event for e in events]
    assert rest[-2:] == ["plan.received", "run.succeeded"], rest


@pytest.mark.parametrize(
    ("stop", "reason"), [("kill -9", "planner_restarted"), ("SIGTERM", "planner_stopped")]
)
def test_planner_stopped_mid_run_leaves_the_run_terminal(
    core_stack: CoreStack,
    spawn: Spawner,
    gateway: str,
    fake: FakeOpenAI,
    gate: threading.Event,
    tmp_path: Path,
    stop: str,
    reason: str,
) -> None:
    """kill -9: the restarted planner ends the run; SIGTERM: the stopping planner does."""
    fake.push(Reply.held(FINAL, gate))
    port = free_port()
    env = core_stack.planner_env(
        MODEL_GATEWAY_ADDR=gateway,
        AGENT_GATEWAY_TIMEOUT_SECONDS="300",
        AGENT_RESUME_ON_START="false",
    )
    first = spawn(planner_process(tmp_path, port, **env))
    client = PlannerClient(first, port)
    run_id = start_run(client, session="s-ctl-stop").json()["run_id"]
    url = f"{client.url}/runs/{run_id}/events"
    before = read_events(url, client.headers(), until="context.retrieved")
    if stop == "kill -9":
        first.kill()
    else:
        assert first.stop() == 0
    second = spawn(planner_process(tmp_path, port, **env))
    after = read_events(url, PlannerClient(second, port).headers())
    assert after[: len(before)] == before
    assert after[-1].event == "run.failed"
    assert after[-1].data["reason"] == reason
    run = get_run(client, run_id)
    assert (run["status"], run["reason"]) == ("failed", reason)
    trace_rows = client.audit_events(run["trace_id"])
    assert trace_rows[-2:] == ["RUN_ABANDONED", "PLAN_END"]
    abandoned = 1 if stop == "kill -9" else 0
    assert len(settled_events(second, "runs_abandoned", abandoned)) == abandoned
