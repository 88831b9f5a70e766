"""No API key leaves the gateway: a fake provider that quotes the caller's key in every error
body and header it can, and the key never shows in the gRPC error, its metadata, the stream,
the gateway's log or its metrics."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from services.model_gateway.redaction import REDACTED, Redactor, StreamRedactor
from tests.model_gateway.conftest import Gateway, error_metadata, gateway_service
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.logs import settled_log, wait_for_log

CANARY = "sk-canary-7f3e9b2c41d84a6e"
FALLBACK_CANARY = "or-canary-key-55aa19"


@pytest.fixture(scope="module")
def echoing() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(echoing: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = gateway_service(
        tmp_path_factory.mktemp("redaction"),
        LLM_PROVIDER="openai",
        OPENAI_API_KEY=CANARY,
        OPENAI_BASE_URL=echoing.base_url,
        LLM_FALLBACKS="openrouter",
        OPENROUTER_API_KEY=FALLBACK_CANARY,
        OPENROUTER_BASE_URL=echoing.base_url,
        LLM_MAX_RETRIES="1",
        LLM_COOLDOWN_SECONDS="0",
        LOG_LEVEL="DEBUG",
    )
    gateway.process.start(timeout=60)
    yield gateway
    gateway.process.stop()


def assert_no_key(text: str) -> None:
    assert CANARY not in text
    assert FALLBACK_CANARY not in text
    assert "canary" not in text


def test_a_rejection_quoting_the_key_is_redacted(gateway: Gateway, echoing: FakeOpenAI) -> None:
    echoing.reset()
    echoing.push(Reply.error(401, echo_key=True))
    error = gateway.plan_error("Plan a trip")
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    details = error.details() or ""
    assert f"Incorrect API key provided: Bearer {REDACTED}" in details
    assert_no_key(details)
    assert_no_key(repr(error_metadata(error)))
    assert echoing.requests[0].headers["authorization"] == f"Bearer {CANARY}"


def test_retried_and_exhausted_errors_are_redacted(gateway: Gateway, echoing: FakeOpenAI) -> None:
    echoing.reset()
    echoing.set_default(Reply.error(503, echo_key=True))
    try:
        error = gateway.plan_error("Plan a trip")
        _, stream_error = gateway.stream_error("Plan a trip")
    finally:
        echoing.always('{"steps": ["ok"]}')
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert len(echoing.requests) == 8, "both providers, retried, on both calls"
    for failure in (error, stream_error):
        assert_no_key(failure.details() or "")
        assert f"Bearer {REDACTED}" in (failure.details() or "")
        assert_no_key(repr(error_metadata(failure)))


def test_a_key_in_the_answer_is_redacted_from_plan_and_stream(
    gateway: Gateway, echoing: FakeOpenAI
) -> None:
    echoing.reset()
    leaked = f'{{"steps": ["the key is {CANARY}"]}}'
    echoing.push(Reply.text(leaked), Reply.text(leaked))
    assert_no_key(gateway.plan("Plan a trip").plan)
    chunks = gateway.stream("Plan a trip")
    assert_no_key("".join(c.delta for c in chunks))
    # The text held back in case it starts a key still arrives, with the final chunk.
    assert "".join(c.delta for c in chunks) == leaked.replace(CANARY, REDACTED)
    assert_no_key(chunks[-1].plan)
    assert REDACTED in chunks[-1].plan


def test_the_log_and_metrics_hold_no_key(gateway: Gateway, echoing: FakeOpenAI) -> None:
    echoing.reset()
    echoing.push(Reply.error(403, echo_key=True))
    gateway.plan_error("Plan a trip")
    wait_for_log(gateway.process, "Incorrect API key provided")  # the errors were logged
    assert_no_key(settled_log(gateway.process))
    assert_no_key(gateway.metrics())


def test_redactor_replaces_known_keys_and_token_shapes() -> None:
    redact = Redactor(["known-secret-value", "abc"])
    text = "key known-secret-value, Authorization: Bearer eyJhbGciOi.J9, other sk-proj-12345678"
    assert redact(text) == (f"key {REDACTED}, Authorization: Bearer {REDACTED}, other {REDACTED}")
    assert redact("abc stays: too short to be a key") == "abc stays: too short to be a key"


def test_stream_redactor_catches_a_key_split_across_pieces() -> None:
    stream = StreamRedactor(Redactor([CANARY]))
    pieces = ["the key is sk-can", "ary-7f3e9b2c", "41d84a6e, done"]
    sent = "".join(stream.feed(piece) for piece in pieces) + stream.flush()
    assert sent == f"the key is {REDACTED}, done"
