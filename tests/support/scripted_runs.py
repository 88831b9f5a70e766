"""Runs driven by a scripted model: fixtures for a loopback OpenAI fake, a gateway on it
and a gate that holds replies, plus the HTTP calls tests make to runs, and tool executions
counted at the sandbox (its gRPC request log, per trace id)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.core_services import CoreStack, PlannerClient
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.logs import settled_events
from tests.support.spawning import Spawner
from tests.support.sse import SseEvent, read_events

FINAL = '{"steps": ["done"]}'


def tool_call(name: str, **args: Any) -> str:
    return json.dumps({"tool": {"name": name, "args": args}})


def printing(marker: str) -> str:
    """A plan asking execute_code to print marker (its output proves what ran)."""
    return tool_call("execute_code", language="python", code=f"print({marker!r})")


@pytest.fixture(scope="module", name="fake")
def scripted_model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(Reply.text(FINAL)) as server:
        yield server


@pytest.fixture(scope="module", name="gateway")
def scripted_gateway(
    core_stack: CoreStack, module_spawn: Spawner, fake: FakeOpenAI, tmp_path_factory: Any
) -> str:
    """The gRPC address of a gateway on the fake, with a deadline longer than any hold."""
    workdir = tmp_path_factory.mktemp("scripted-gateway")
    return core_stack.start_openai_gateway(
        module_spawn, workdir, fake.base_url, REQUEST_TIMEOUT_SECONDS="300"
    )


@pytest.fixture(name="gate")
def reply_gate(fake: FakeOpenAI) -> Iterator[threading.Event]:
    """Held replies wait for this; it is released when the test ends either way."""
    fake.reset()
    released = threading.Event()
    yield released
    released.set()


def start_run(client: PlannerClient, prompt: str = "do it", **extra: Any) -> dict[str, Any]:
    body = {"prompt": prompt, "session_id": f"s-scripted-{uuid.uuid4().hex[:8]}", **extra}
    reply = httpx.post(f"{client.url}/runs", json=body, headers=client.headers(), timeout=30)
    assert reply.status_code == 202, reply.text
    return dict(reply.json())


def events_of(client: PlannerClient, run_id: str, until: str | None = None) -> list[SseEvent]:
    return read_events(f"{client.url}/runs/{run_id}/events", client.headers(), until=until)


def sandbox_executions(core_stack: CoreStack, trace_id: str, expected: int = 1) -> int:
    """The ExecuteTool calls the sandbox logged for trace_id, counted once `expected` are
    there (or the wait for them ended) and any line still waiting for its batch is out, so
    a call more than expected is counted too."""
    method = "/modelgateway.ToolService/ExecuteTool"
    lines = settled_events(
        core_stack["sandbox"], "grpc_request", expected, trace_id=trace_id, method=method
    )
    return len(lines)
