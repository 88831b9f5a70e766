"""Real providers against a loopback OpenAI-compatible server: request shape, reply
normalisation, retries, deadline and error mapping, all over real gRPC and HTTP."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from services.contracts import modelgateway_pb2 as pb
from services.kit.tool_catalogue import CATALOGUE, catalogue_json
from tests.model_gateway.conftest import Gateway, closed_port, gateway_service
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.grpcurl import grpcurl
from tests.support.logs import logged

MODEL = "test-org/test-model"
PLAN = '{"steps": ["Look it up", "Answer"]}'


@pytest.fixture(scope="module")
def gateway(fake_openai: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = gateway_service(
        tmp_path_factory.mktemp("openrouter"),
        LLM_PROVIDER="openrouter",
        OPENROUTER_API_KEY="sk-test-key",
        OPENROUTER_BASE_URL=fake_openai.base_url,
        OPENROUTER_MODEL_NAME=MODEL,
        REQUEST_TIMEOUT_SECONDS="2",
        LLM_COOLDOWN_SECONDS="0",  # the failure tests must not put the one provider to rest
    )
    gateway.process.start(timeout=60)
    yield gateway
    gateway.process.stop()


@pytest.fixture
def fake(fake_openai: FakeOpenAI) -> FakeOpenAI:
    fake_openai.reset()
    fake_openai.always(PLAN)
    return fake_openai


def test_request_carries_rules_catalogue_model_and_temperature(
    gateway: Gateway, fake: FakeOpenAI
) -> None:
    gateway.plan("Plan a trip to Lisbon")
    [request] = fake.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test-key"
    assert request.body["model"] == MODEL
    assert request.body["temperature"] == 0.2
    assert [m["role"] for m in request.messages()] == ["system", "user"]
    system = request.system_prompt
    assert "planning assistant" in system
    assert "STRICT JSON" in system
    assert '{"tool": {"name": "<tool name>", "args": {...}}}' in system
    assert '{"steps": [' in system
    assert f"<available_tools>\n{catalogue_json()}\n</available_tools>" in system
    tools = json.loads(system.split("<available_tools>")[1].split("</available_tools>")[0])
    assert tools == [tool.as_json() for tool in CATALOGUE]
    assert {"web_search", "execute_code"} <= {tool["name"] for tool in tools}
    assert request.user_prompt == "Plan a trip to Lisbon"


def test_raw_json_plan_is_re_emitted(gateway: Gateway, fake: FakeOpenAI) -> None:
    reply = gateway.plan("Plan a trip")
    assert reply.model_name == MODEL
    assert json.loads(reply.plan) == {
        "model_type": "openrouter",
        "steps": ["Look it up", "Answer"],
        "prompt": "Plan a trip",
    }


def test_fenced_json_tool_call(gateway: Gateway, fake: FakeOpenAI) -> None:
    fake.push(
        Reply.text(
            'Sure!\n```json\n{"tool": {"name": "web_search", "args": {"query": "lisbon"}}}\n```'
        )
    )
    assert gateway.plan_json("Find Lisbon news") == {
        "tool": {"name": "web_search", "args": {"query": "lisbon"}},
        "model_type": "openrouter",
        "prompt": "Find Lisbon news",
    }


def test_prose_is_wrapped_as_one_step(gateway: Gateway, fake: FakeOpenAI) -> None:
    fake.push(Reply.text("First pack, then fly."))
    assert gateway.plan_json("Plan a trip") == {
        "model_type": "openrouter",
        "steps": ["First pack, then fly."],
        "prompt": "Plan a trip",
    }


def test_tool_call_without_args_gets_empty_args(gateway: Gateway, fake: FakeOpenAI) -> None:
    fake.push(Reply.text('{"tool": {"name": "weather_tool"}}'))
    assert gateway.plan_json("Weather?") == {
        "tool": {"name": "weather_tool", "args": {}},
        "model_type": "openrouter",
        "prompt": "Weather?",
    }


def test_empty_steps_are_not_a_plan(gateway: Gateway, fake: FakeOpenAI) -> None:
    fake.push(Reply.text('{"steps": []}'))
    assert gateway.plan_json("Plan a trip") == {
        "model_type": "openrouter",
        "steps": ['{"steps": []}'],
        "prompt": "Plan a trip",
    }


def test_rate_limit_then_success_is_retried(gateway: Gateway, fake: FakeOpenAI) -> None:
    fake.push(Reply.error(429, "slow down", headers={"Retry-After": "0.3"}))
    plan = gateway.plan_json("Plan a trip")
    assert plan["steps"] == ["Look it up", "Answer"]
    first, second = fake.requests
    retry = logged(gateway.process, "provider_retry")[-1]
    assert retry["delay_s"] == 0.3, "the provider's Retry-After is the wait"
    assert "HTTP 429" in retry["error"]
    # The fake saw the gap too (a lower bound, which a busy machine only makes larger).
    assert second.received_at - first.received_at >= 0.3


def test_server_error_is_unavailable_with_upstream_message(
    gateway: Gateway, fake: FakeOpenAI
) -> None:
    fake.set_default(Reply.error(500, "model overloaded"))
    error = gateway.plan_error("Plan a trip")
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "HTTP 500" in (error.details() or "")
    assert "model overloaded" in (error.details() or "")
    assert len(fake.requests) == 3, "5xx is retried LLM_MAX_RETRIES (2) times"


def test_slow_reply_past_the_deadline_is_deadline_exceeded(
    gateway: Gateway, fake: FakeOpenAI
) -> None:
    fake.push(Reply.text(PLAN, delay=30))  # answered long after the 2 s deadline, if ever
    error = gateway.plan_error("Plan a trip")
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "2s" in (error.details() or "")
    assert len(fake.requests) == 1


def test_unauthorised_is_permission_denied_without_retry(
    gateway: Gateway, fake: FakeOpenAI
) -> None:
    fake.push(Reply.error(401, "No auth credentials found"))
    error = gateway.plan_error("Plan a trip")
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "No auth credentials found" in (error.details() or "")
    assert len(fake.requests) == 1


def test_bad_request_is_invalid_argument(gateway: Gateway, fake: FakeOpenAI) -> None:
    fake.push(Reply.error(404, "model test-org/test-model not found"))
    error = gateway.plan_error("Plan a trip")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not found" in (error.details() or "")


def test_reply_without_content_is_unavailable(gateway: Gateway, fake: FakeOpenAI) -> None:
    fake.set_default(Reply(status=200, body=None, content=""))
    error = gateway.plan_error("Plan a trip")
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "without content or tool calls" in (error.details() or "")


def test_oversized_reply_is_refused(gateway: Gateway, fake: FakeOpenAI) -> None:
    fake.set_default(Reply.text("x" * (1024 * 1024 + 10)))
    error = gateway.plan_error("Plan a trip")
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "larger than" in (error.details() or "")


def test_resources_are_passed_as_text_references(gateway: Gateway, fake: FakeOpenAI) -> None:
    resources = [
        pb.Resource(type="image", uri="https://example.test/cat.png"),
        pb.Resource(type="file", uri="file:///tmp/notes.txt"),
    ]
    gateway.plan("Describe the attachments", resources)
    user = fake.requests[-1].user_prompt
    assert user.startswith("Describe the attachments")
    assert "- image: https://example.test/cat.png" in user
    assert "- file: file:///tmp/notes.txt" in user
    line = logged(gateway.process, "plan_request", resource_count=2)[-1]
    assert line["resource_types"] == ["file", "image"]
    assert line["provider"] == "openrouter"
    assert line["model"] == MODEL


def test_memory_down_means_no_preamble_and_a_log_line(gateway: Gateway, fake: FakeOpenAI) -> None:
    gateway.plan("Plan a trip")
    assert "knowledge base" not in fake.requests[-1].user_prompt
    assert "<context>" not in fake.requests[-1].user_prompt
    assert logged(gateway.process, "rag_context_unavailable")


def test_one_pooled_connection_is_reused(gateway: Gateway, fake: FakeOpenAI) -> None:
    gateway.plan("one")
    gateway.plan("two")
    first, second = fake.requests
    assert first.client_port == second.client_port


def test_health_is_not_serving_while_memory_is_down(gateway: Gateway, fake: FakeOpenAI) -> None:
    result = grpcurl("-plaintext", gateway.address, "grpc.health.v1.Health/Check")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "NOT_SERVING"
    health = httpx.get(f"{gateway.url}/health").json()
    assert health["ready"] is False
    assert health["provider"] == "openrouter"


def test_metrics_count_calls_by_provider_and_outcome(gateway: Gateway, fake: FakeOpenAI) -> None:
    before = plan_count(gateway, "success")
    gateway.plan("Plan a trip")
    assert plan_count(gateway, "success") == before + 1
    fake.push(Reply.error(403, "forbidden"))
    denied = plan_count(gateway, "permission_denied")
    gateway.plan_error("Plan a trip")
    assert plan_count(gateway, "permission_denied") == denied + 1
    text = httpx.get(f"{gateway.url}/metrics").text
    assert 'model_gateway_plan_duration_seconds_count{provider="openrouter"}' in text


def plan_count(gateway: Gateway, outcome: str) -> float:
    text = httpx.get(f"{gateway.url}/metrics").text
    pattern = (
        r'^model_gateway_plan_total\{outcome="' + outcome + r'",provider="openrouter"\} (\S+)$'
    )
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_ollama_appends_v1_and_sends_no_key(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.reset()
    fake_openai.always(PLAN)
    gateway = gateway_service(
        tmp_path, LLM_PROVIDER="ollama", OLLAMA_BASE_URL=f"http://127.0.0.1:{fake_openai.port}"
    )
    gateway.process.start(timeout=60)
    try:
        reply = gateway.plan("Plan a trip")
    finally:
        gateway.process.stop()
    assert reply.model_name == "llama3"
    assert json.loads(reply.plan)["model_type"] == "ollama"
    [request] = fake_openai.requests
    assert request.path == "/v1/chat/completions"
    assert "authorization" not in request.headers
    assert request.body["model"] == "llama3"


def test_unreachable_provider_is_unavailable(tmp_path: Path) -> None:
    gateway = gateway_service(
        tmp_path,
        LLM_PROVIDER="openai",
        OPENAI_API_KEY="sk-x",
        OPENAI_BASE_URL=f"http://127.0.0.1:{closed_port()}/v1",
        REQUEST_TIMEOUT_SECONDS="1",
    )
    gateway.process.start(timeout=60)
    try:
        error = gateway.plan_error("Plan a trip")
    finally:
        gateway.process.stop()
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "cannot reach openai" in (error.details() or "")


def test_a_providers_cookies_are_not_sent_back(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    """Providers authenticate by key: nothing one answer sets rides along on later calls.
    (By host name: a cookie jar ignores cookies from a bare IP address anyway.)"""
    fake_openai.reset()
    fake_openai.always(PLAN)
    fake_openai.push(Reply.error(429, headers={"Set-Cookie": "session=from-provider; Path=/"}))
    gateway = gateway_service(
        tmp_path,
        LLM_PROVIDER="openai",
        OPENAI_API_KEY="sk-test-key",
        OPENAI_BASE_URL=f"http://localhost:{fake_openai.port}/v1",
    )
    gateway.process.start(timeout=60)
    try:
        gateway.plan("retried once")
    finally:
        gateway.process.stop()
    first, retry = fake_openai.requests
    assert "cookie" not in first.headers
    assert "cookie" not in retry.headers
