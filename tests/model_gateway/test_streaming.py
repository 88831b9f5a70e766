"""StreamPlan against a loopback provider streaming server-sent events: the streamed answer
gives exactly GetPlan's plan (content, native tool calls with arguments split across chunks,
several calls), deltas arrive as written, a cut stream is retried or fails cleanly, never
with half a plan, and grpcurl can call it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import pytest

from tests.model_gateway.conftest import Gateway, error_metadata, gateway_service
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.grpcurl import grpcurl

SPLIT_ARGS = json.dumps({"query": "café opening hours in Lisbon", "limit": 3})
ANSWERS = {
    "json plan": Reply.text('{"steps": ["Pack", "Fly", "Enjoy"]}', usage=(50, 12)),
    "fenced tool call": Reply.text(
        'Sure.\n```json\n{"tool": {"name": "web_search", "args": {"query": "lisbon"}}}\n```'
    ),
    "prose": Reply.text("First pack, then fly — über simple."),
    "native tool call": Reply.tools(("web_search", SPLIT_ARGS), usage=(80, 20)),
    "several tool calls": Reply.tools(
        ("web_search", SPLIT_ARGS), ("weather_tool", '{"city": "Porto"}')
    ),
}


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    with FakeOpenAI() as primary, FakeOpenAI() as fallback:
        yield primary, fallback


@pytest.fixture(scope="module")
def gateway(
    fakes: tuple[FakeOpenAI, FakeOpenAI], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    gateway = gateway_service(
        tmp_path_factory.mktemp("streaming"),
        LLM_PROVIDER="openai",
        OPENAI_API_KEY="primary-key",
        OPENAI_BASE_URL=fakes[0].base_url,
        LLM_FALLBACKS="openrouter",
        OPENROUTER_API_KEY="fallback-key",
        OPENROUTER_BASE_URL=fakes[1].base_url,
        LLM_MAX_RETRIES="1",
        LLM_COOLDOWN_SECONDS="0",
        RAG_PREAMBLE="false",
    )
    gateway.process.start(timeout=60)
    yield gateway
    gateway.process.stop()


@pytest.fixture
def primary(fakes: tuple[FakeOpenAI, FakeOpenAI]) -> FakeOpenAI:
    fakes[0].reset()
    fakes[0].always('{"steps": ["primary"]}')
    return fakes[0]


@pytest.fixture
def fallback(fakes: tuple[FakeOpenAI, FakeOpenAI]) -> FakeOpenAI:
    fakes[1].reset()
    fakes[1].always('{"steps": ["fallback"]}')
    return fakes[1]


@pytest.mark.parametrize("answer", list(ANSWERS))
def test_streaming_and_non_streaming_give_the_same_plan(
    gateway: Gateway, primary: FakeOpenAI, answer: str
) -> None:
    primary.push(ANSWERS[answer], ANSWERS[answer])
    unary = gateway.plan("Find me something")
    chunks = gateway.stream("Find me something")
    assert [r.streamed for r in primary.requests] == [False, True]
    assert primary.requests[1].body["stream_options"] == {"include_usage": True}
    final = chunks[-1]
    assert final.plan == unary.plan
    assert final.model_name == unary.model_name == "gpt-4o-mini"
    assert final.provider == "openai"
    usage = ANSWERS[answer].usage
    assert (final.prompt_tokens, final.completion_tokens) == usage
    content = ANSWERS[answer].content
    if content:
        deltas = [c.delta for c in chunks if c.delta]  # the final chunk may carry the last
        assert len(deltas) > 1, "the text arrives in pieces, as written"
        assert "".join(deltas) == content


def test_split_tool_call_arguments_are_joined(gateway: Gateway, primary: FakeOpenAI) -> None:
    primary.push(ANSWERS["several tool calls"])
    plan = json.loads(gateway.stream("Find me something")[-1].plan)
    assert plan["tool"] == {
        "name": "web_search",
        "args": {"query": "café opening hours in Lisbon", "limit": 3},
    }
    assert [call["name"] for call in plan["tool_calls"]] == ["web_search", "weather_tool"]
    assert plan["tool_calls"][1]["args"] == {"city": "Porto"}


def test_a_cut_stream_is_retried_and_the_deltas_start_over(
    gateway: Gateway, primary: FakeOpenAI, fallback: FakeOpenAI
) -> None:
    primary.push(Reply.text('{"steps": ["half of a plan that never ends"]}', cut_after=4))
    chunks = gateway.stream("Plan a trip")
    resets = [i for i, chunk in enumerate(chunks) if chunk.reset]
    assert len(resets) == 1
    after_reset = "".join(c.delta for c in chunks[resets[0] :])
    assert after_reset == '{"steps": ["primary"]}'
    assert json.loads(chunks[-1].plan)["steps"] == ["primary"]
    assert len(primary.requests) == 2
    assert fallback.requests == []


def test_a_stream_cut_everywhere_fails_cleanly_without_a_plan(
    gateway: Gateway, primary: FakeOpenAI, fallback: FakeOpenAI
) -> None:
    cut = Reply.text('{"steps": ["never finished"]}', cut_after=3)
    primary.set_default(cut)
    fallback.set_default(cut)
    received, error = gateway.stream_error("Plan a trip")
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "broke off its stream" in (error.details() or "")
    assert error_metadata(error)["x-pagi-error-source"] == "provider"
    assert not any(chunk.plan for chunk in received), "never half a plan"
    assert (len(primary.requests), len(fallback.requests)) == (2, 2)


def test_a_stream_without_a_finish_is_not_a_plan(
    gateway: Gateway, primary: FakeOpenAI, fallback: FakeOpenAI
) -> None:
    """The connection closes cleanly, but before the finish chunk and [DONE]."""
    primary.set_default(Reply.text('{"steps": ["almost"]}', cut_after=3))
    chunks = gateway.stream("Plan a trip")
    assert json.loads(chunks[-1].plan)["steps"] == ["fallback"]
    assert chunks[-1].provider == "openrouter"


def test_stream_plan_with_grpcurl(mock_gateway: Gateway) -> None:
    described = grpcurl("-plaintext", mock_gateway.address, "describe", "modelgateway.ModelGateway")
    assert (
        "rpc StreamPlan ( .modelgateway.PlanRequest ) returns ( stream .modelgateway.PlanChunk )"
        in (described.stdout)
    )
    result = grpcurl(
        "-plaintext",
        "-d",
        json.dumps({"prompt": "Plan a picnic"}),
        mock_gateway.address,
        "modelgateway.ModelGateway/StreamPlan",
    )
    assert result.returncode == 0, result.stderr
    messages = [json.loads(part) for part in split_json_stream(result.stdout)]
    final = messages[-1]
    assert final["provider"] == "mock"
    assert final["model_name"] == "mock"
    # The mock answers at once: its whole text comes with the final message.
    assert len(messages) == 1
    assert final["delta"] == final["plan"]
    assert json.loads(final["plan"])["steps"][0].startswith("Restate the objective")


def split_json_stream(text: str) -> list[str]:
    """grpcurl prints each message as its own pretty-printed JSON object."""
    decoder = json.JSONDecoder()
    objects, index = [], 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        _, end = decoder.raw_decode(text, index)
        objects.append(text[index:end])
        index = end
    return objects
