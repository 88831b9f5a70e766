"""The gateway breaker judges the gateway process, not its provider: errors the gateway
reports about its provider (marked `x-pagi-error-source: provider`) never open it, while
an unreachable gateway does, and /health then says "degraded"."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from services.agent_planner.errors import is_gateway_process_failure
from services.kit.error_source import ERROR_SOURCE_METADATA, PROVIDER_SOURCE
from tests.agent_planner.conftest import LonePlanner, start_lone_planner
from tests.support.core_services import CoreStack
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.json_values import json_object
from tests.support.spawning import Spawner

PLAN = '{"steps": ["Answer in one line."]}'
FAILURES = 2


def health(planner_url: str) -> dict[str, Any]:
    reply = httpx.get(f"{planner_url}/health", timeout=10)
    assert reply.status_code == 200
    return json_object(reply.content)


def test_slow_or_failing_provider_never_opens_the_breaker_for_everyone(
    core_stack: CoreStack, spawn: Spawner, tmp_path: Path
) -> None:
    with FakeOpenAI(default=Reply.text(PLAN, delay=5)) as fake:
        gateway = core_stack.start_openai_gateway(
            spawn,
            tmp_path / "gateway",
            fake.base_url,
            REQUEST_TIMEOUT_SECONDS="1",
            LLM_MAX_RETRIES="0",
            LLM_COOLDOWN_FAILURES="100",
        )
        planner = core_stack.start_planner(
            spawn,
            tmp_path / "planner",
            MODEL_GATEWAY_ADDR=gateway,
            AGENT_BREAKER_FAILURES=str(FAILURES),
            AGENT_BREAKER_OPEN_SECONDS="600",
        )
        session = f"slow-{uuid.uuid4()}"
        errors = [planner.plan("A slow question", session).json()["error"] for _ in range(3)]
        fake.set_default(Reply.error(503))
        errors += [planner.plan("An unlucky question", session).json()["error"] for _ in range(3)]
        for error in errors[:3]:
            assert error.startswith("Agent execution failed: GetPlan: DEADLINE_EXCEEDED"), error
        for error in errors[3:]:
            assert error.startswith("Agent execution failed: GetPlan: UNAVAILABLE"), error
        assert not any("circuit breaker" in error for error in errors), errors
        fake.set_default(Reply.text(PLAN))
        answered = planner.plan("Another client's quick question", f"quick-{uuid.uuid4()}")
        assert answered.status_code == 200, answered.text
    body = health(planner.url)
    assert body["status"] == "ok"
    assert body["breakers"] == {"model_gateway": "closed", "memory_rag": "closed"}


def test_an_unreachable_gateway_opens_the_breaker_and_health_says_degraded(
    spawn: Spawner, tmp_path: Path
) -> None:
    planner: LonePlanner = start_lone_planner(
        spawn, tmp_path, AGENT_BREAKER_FAILURES=str(FAILURES), AGENT_BREAKER_OPEN_SECONDS="600"
    )
    body = '{"prompt": "hello", "session_id": "s-degraded"}'
    errors = [planner.post("/plan", body).json()["error"] for _ in range(FAILURES + 1)]
    assert all("UNAVAILABLE" in error for error in errors[:FAILURES]), errors
    assert "circuit breaker for model-gateway is open" in errors[-1]
    report = health(planner.url)
    assert report["status"] == "degraded"
    assert report["breakers"]["model_gateway"] == "open"  # (memory is down here too)


def rpc_error(code: grpc.StatusCode, trailing: tuple[tuple[str, str], ...] = ()) -> Exception:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing))


PROVIDER = ((ERROR_SOURCE_METADATA, PROVIDER_SOURCE),)


@pytest.mark.parametrize(
    ("error", "counts"),
    [
        (rpc_error(grpc.StatusCode.UNAVAILABLE), True),
        (rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED), True),
        (rpc_error(grpc.StatusCode.UNAVAILABLE, PROVIDER), False),
        (rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, PROVIDER), False),
        (rpc_error(grpc.StatusCode.INVALID_ARGUMENT), False),
        (rpc_error(grpc.StatusCode.PERMISSION_DENIED, PROVIDER), False),
        (TimeoutError("DEADLINE_EXCEEDED: no plan within the planner's 60s deadline"), True),
        (ConnectionRefusedError(), True),
    ],
)
def test_what_the_gateway_breaker_counts(error: Exception, counts: bool) -> None:
    assert is_gateway_process_failure(error) is counts
