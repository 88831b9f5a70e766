"""The provider chain over real gRPC against loopback OpenAI-compatible fakes: fallback order,
one retry loop (rejections never retried, Retry-After honoured), cooldown of a dead provider,
the total deadline across the chain, the mock as an explicit last resort, and what each call
reports in trailing metadata, logs and metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import httpx
import pytest

from services.kit.errors import ConfigError
from services.model_gateway.chain_config import provider_chain
from services.model_gateway.settings import GatewaySettings
from tests.model_gateway.conftest import Gateway, closed_port, error_metadata, gateway_service
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.logs import logged, settled_events, settled_log

PRIMARY_PLAN = '{"steps": ["from the primary"]}'
FALLBACK_PLAN = '{"steps": ["from the fallback"]}'


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    with FakeOpenAI() as primary, FakeOpenAI() as fallback:
        yield primary, fallback


@pytest.fixture
def primary(fakes: tuple[FakeOpenAI, FakeOpenAI]) -> FakeOpenAI:
    fakes[0].reset()
    fakes[0].always(PRIMARY_PLAN)
    return fakes[0]


@pytest.fixture
def fallback(fakes: tuple[FakeOpenAI, FakeOpenAI]) -> FakeOpenAI:
    fakes[1].reset()
    fakes[1].always(FALLBACK_PLAN)
    return fakes[1]


def chain_env(primary_url: str, fallback_url: str, **env: str) -> dict[str, str]:
    return {
        "LLM_PROVIDER": "openai",
        "OPENAI_API_KEY": "primary-key",
        "OPENAI_BASE_URL": primary_url,
        "OPENAI_MODEL_NAME": "primary-model",
        "LLM_FALLBACKS": "openrouter",
        "OPENROUTER_API_KEY": "fallback-key",
        "OPENROUTER_BASE_URL": fallback_url,
        "OPENROUTER_MODEL_NAME": "fallback-model",
        "LLM_MAX_RETRIES": "1",
        "RAG_PREAMBLE": "false",
        **env,
    }


@contextmanager
def running(workdir: Path, **env: str) -> Iterator[Gateway]:
    """A gateway for one test, stopped however the test ends."""
    gateway = gateway_service(workdir, **env)
    gateway.process.start(timeout=60)
    try:
        yield gateway
    finally:
        gateway.process.stop()


@pytest.fixture(scope="module")
def gateway(
    fakes: tuple[FakeOpenAI, FakeOpenAI], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    env = chain_env(
        fakes[0].base_url,
        fakes[1].base_url,
        LLM_COOLDOWN_SECONDS="0",
        REQUEST_TIMEOUT_SECONDS="3",
        LLM_PRICES_PER_1K='{"fallback-model": {"prompt": 0.5, "completion": 2.0}}',
    )
    with running(tmp_path_factory.mktemp("chain"), **env) as gateway:
        yield gateway


def test_retryable_failures_move_down_the_chain_in_order(
    gateway: Gateway, primary: FakeOpenAI, fallback: FakeOpenAI
) -> None:
    primary.set_default(Reply.error(503, "primary overloaded"))
    fallback.push(Reply.text(FALLBACK_PLAN, usage=(120, 30)))
    reply, metadata = gateway.plan_with_metadata("Plan a trip")
    assert json.loads(reply.plan)["steps"] == ["from the fallback"]
    assert json.loads(reply.plan)["model_type"] == "openrouter"
    assert reply.model_name == "fallback-model"
    assert len(primary.requests) == 2, "the primary gets 1 + LLM_MAX_RETRIES attempts"
    assert len(fallback.requests) == 1
    assert fallback.requests[0].headers["authorization"] == "Bearer fallback-key"
    assert fallback.requests[0].body["model"] == "fallback-model"
    assert metadata["x-pagi-provider"] == "openrouter"
    assert metadata["x-pagi-model"] == "fallback-model"
    assert metadata["x-pagi-attempts"] == "3"
    assert metadata["x-pagi-fallbacks"] == "1"
    assert metadata["x-pagi-prompt-tokens"] == "120"
    assert float(metadata["x-pagi-upstream-ms"]) >= 0
    assert float(metadata["x-pagi-overhead-ms"]) >= 0
    answered = logged(gateway.process, "plan_request")[-1]
    assert (answered["provider"], answered["attempts"], answered["fallbacks"]) == (
        "openrouter",
        3,
        1,
    )
    assert answered["cost"] == pytest.approx((120 * 0.5 + 30 * 2.0) / 1000)


def test_tokens_and_cost_are_metrics_by_provider_and_model(
    gateway: Gateway, primary: FakeOpenAI, fallback: FakeOpenAI
) -> None:
    before = metric(gateway, "model_gateway_tokens_total", 'kind="completion"', "primary-model")
    primary.push(Reply.text(PRIMARY_PLAN, usage=(10, 7)))
    gateway.plan("Plan a trip")
    after = metric(gateway, "model_gateway_tokens_total", 'kind="completion"', "primary-model")
    assert after == before + 7
    primary.set_default(Reply.error(500))
    fallback.push(Reply.text(FALLBACK_PLAN, usage=(1000, 1000)))
    cost = metric(gateway, "model_gateway_cost_total", "", "fallback-model")
    gateway.plan("Plan a trip")
    assert metric(gateway, "model_gateway_cost_total", "", "fallback-model") == pytest.approx(
        cost + 2.5
    )


def metric(gateway: Gateway, name: str, label: str, model: str) -> float:
    total = 0.0
    for line in gateway.metrics().splitlines():
        if line.startswith(name + "{") and f'model="{model}"' in line and label in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, grpc.StatusCode.INVALID_ARGUMENT),
        (401, grpc.StatusCode.PERMISSION_DENIED),
        (403, grpc.StatusCode.PERMISSION_DENIED),
    ],
)
def test_rejections_fail_at_once_and_are_never_retried(
    gateway: Gateway,
    primary: FakeOpenAI,
    fallback: FakeOpenAI,
    status: int,
    code: grpc.StatusCode,
) -> None:
    primary.push(Reply.error(status, "you may not"))
    error = gateway.plan_error("Plan a trip")
    assert error.code() == code
    assert f"HTTP {status}" in (error.details() or "")
    assert len(primary.requests) == 1
    assert fallback.requests == [], "a rejection is not a reason to ask another provider"
    metadata = error_metadata(error)
    assert metadata["x-pagi-error-source"] == "provider"
    assert metadata["x-pagi-attempts"] == "1"


def test_invalid_request_is_not_blamed_on_the_provider(gateway: Gateway) -> None:
    error = gateway.plan_error("   ")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "x-pagi-error-source" not in error_metadata(error)


def test_retry_after_is_the_wait_before_the_retry(
    gateway: Gateway, primary: FakeOpenAI, fallback: FakeOpenAI
) -> None:
    primary.push(Reply.error(429, "slow down", headers={"Retry-After": "0.2"}))
    reply = gateway.plan_json("Plan a trip")
    assert reply["steps"] == ["from the primary"]
    assert len(primary.requests) == 2
    assert fallback.requests == []
    assert logged(gateway.process, "provider_retry")[-1]["delay_s"] == 0.2


def test_exhausted_chain_is_unavailable_naming_every_provider(
    gateway: Gateway, primary: FakeOpenAI, fallback: FakeOpenAI
) -> None:
    primary.set_default(Reply.error(502, "bad gateway upstream"))
    fallback.set_default(Reply.error(503, "fallback down too"))
    error = gateway.plan_error("Plan a trip")
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    details = error.details() or ""
    assert "openai: openai answered HTTP 502: bad gateway upstream" in details
    assert "openrouter: openrouter answered HTTP 503: fallback down too" in details
    assert (len(primary.requests), len(fallback.requests)) == (2, 2)
    assert error_metadata(error)["x-pagi-error-source"] == "provider"
    assert error_metadata(error)["x-pagi-attempts"] == "4"


def test_the_deadline_covers_the_whole_chain(
    fakes: tuple[FakeOpenAI, FakeOpenAI], primary: FakeOpenAI, fallback: FakeOpenAI, tmp_path: Path
) -> None:
    """Each provider alone would get two 0.9 s attempts (about 4 s in all); the 2.5 s budget
    ends the call during the fallback's first attempt."""
    primary.set_default(Reply.text(PRIMARY_PLAN, delay=5))
    fallback.set_default(Reply.text(FALLBACK_PLAN, delay=5))
    env = chain_env(
        primary.base_url,
        fallback.base_url,
        REQUEST_TIMEOUT_SECONDS="2.5",
        LLM_ATTEMPT_TIMEOUT_SECONDS="0.9",
        LLM_COOLDOWN_SECONDS="0",
    )
    with running(tmp_path, **env) as gateway:
        error = gateway.plan_error("Plan a trip")
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "within 2.5s" in (error.details() or "")
        assert error_metadata(error)["x-pagi-error-source"] == "provider"
        assert len(primary.requests) == 2, "attempt timeouts are retried like other failures"
        assert len(fallback.requests) == 1
        retries = logged(gateway.process, "provider_retry")
        assert "no answer within 0.9s" in retries[-1]["error"]


def test_a_dead_provider_cools_down_and_costs_nothing(fallback: FakeOpenAI, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    env = chain_env(dead, fallback.base_url, LLM_COOLDOWN_FAILURES="2", LLM_COOLDOWN_SECONDS="600")
    with running(tmp_path, **env) as gateway:
        _, first = gateway.plan_with_metadata("one")
        assert first["x-pagi-attempts"] == "3"
        cooled = logged(gateway.process, "provider_cooldown")
        assert [(c["provider"], c["seconds"]) for c in cooled] == [("openai", 600)]
        _, second = gateway.plan_with_metadata("two")
        assert second["x-pagi-provider"] == "openrouter"
        assert second["x-pagi-attempts"] == "1", "the cooling provider is skipped"
        assert len(settled_events(gateway.process, "provider_retry", 1)) == 1
        assert 'model_gateway_provider_cooldowns_total{provider="openai"} 1.0' in (
            gateway.metrics()
        )
        chain = httpx.get(f"{gateway.url}/health", timeout=10).json()["chain"]
        assert [(link["provider"], link["cooling_down_s"] > 500) for link in chain] == [
            ("openai", True),
            ("openrouter", False),
        ]


def test_a_long_retry_after_skips_to_the_next_provider_and_rests_the_first(
    primary: FakeOpenAI, fallback: FakeOpenAI, tmp_path: Path
) -> None:
    primary.push(Reply.error(429, "quota", headers={"Retry-After": "120"}))
    env = chain_env(primary.base_url, fallback.base_url, LLM_COOLDOWN_SECONDS="0")
    with running(tmp_path, **env) as gateway:
        assert gateway.plan_json("one")["steps"] == ["from the fallback"]
        assert gateway.plan_json("two")["steps"] == ["from the fallback"]
        assert len(primary.requests) == 1, "Retry-After: 120 is honoured across calls"
        assert logged(gateway.process, "provider_cooldown")[0]["seconds"] == 120


def test_mock_is_a_last_resort_only_when_named(primary: FakeOpenAI, tmp_path: Path) -> None:
    primary.set_default(Reply.error(500))
    env = chain_env(primary.base_url, "", LLM_FALLBACKS="mock", LLM_COOLDOWN_SECONDS="0")
    with running(tmp_path, **env) as gateway:
        reply, metadata = gateway.plan_with_metadata("hello")
        assert json.loads(reply.plan)["model_type"] == "mock"
        assert reply.model_name == "mock"
        assert metadata["x-pagi-provider"] == "mock"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LLM_FALLBACKS": "mock,openai"}, "mock never fails, so it can only be the last"),
        ({"LLM_PROVIDER": "mock", "LLM_FALLBACKS": "openai"}, "only be the last resort"),
        ({"LLM_FALLBACKS": "openrouter,openrouter"}, "openrouter named more than once"),
        ({"LLM_FALLBACKS": "claude"}, "LLM_FALLBACKS: unknown provider 'claude'"),
        ({"LLM_FALLBACKS": "claude"}, "set CLAUDE_BASE_URL and CLAUDE_MODEL_NAME"),
        ({"LLM_FALLBACKS": "my groq"}, "LLM_FALLBACKS: 'my groq' is not a provider name"),
        ({"LLM_FALLBACKS": "openrouter"}, "OPENROUTER_API_KEY is required"),
    ],
)
def test_bad_chains_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "ollama")
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=re.escape(message)):
        provider_chain(GatewaySettings())


def test_chain_order_and_per_provider_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "ka")
    monkeypatch.setenv("LLM_FALLBACKS", " OpenRouter , ollama ,mock")
    monkeypatch.setenv("OPENROUTER_API_KEY", "kb")
    chain = provider_chain(GatewaySettings())
    assert [(c.name, c.api_key) for c in chain] == [
        ("openai", "ka"),
        ("openrouter", "kb"),
        ("ollama", ""),
        ("mock", ""),
    ]
    assert chain[2].base_url == "http://localhost:11434/v1"


def test_any_other_name_is_an_openai_compatible_provider_of_its_own(
    primary: FakeOpenAI, fallback: FakeOpenAI, tmp_path: Path
) -> None:
    """LLM_FALLBACKS=my-groq with MY_GROQ_* settings, no code: its key is sent, and
    redacted like a built-in provider's."""
    key = "canary-custom-provider-key-9d1f"
    primary.set_default(Reply.error(503, "primary overloaded"))
    env = chain_env(
        primary.base_url,
        "",
        LLM_FALLBACKS="my-groq",
        MY_GROQ_BASE_URL=fallback.base_url,
        MY_GROQ_MODEL_NAME="llama-3-70b",
        MY_GROQ_API_KEY=key,
        LLM_COOLDOWN_SECONDS="0",
    )
    with running(tmp_path, **env) as gateway:
        reply, metadata = gateway.plan_with_metadata("Plan a trip")
        assert (metadata["x-pagi-provider"], reply.model_name) == ("my-groq", "llama-3-70b")
        assert fallback.requests[-1].headers["authorization"] == f"Bearer {key}"
        fallback.set_default(Reply.error(401, f"Incorrect API key provided: {key}"))
        error = gateway.plan_error("Plan a trip")
        assert "Incorrect API key provided: [REDACTED]" in (error.details() or "")
        assert key not in settled_log(gateway.process)


def test_a_custom_provider_is_read_from_dot_env_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        "TOGETHER_BASE_URL=https://api.together.example/v1/\n"
        "TOGETHER_MODEL_NAME=from-dot-env\n"
        "TOGETHER_API_KEY=dot-env-key\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLM_PROVIDER", "together")
    monkeypatch.setenv("TOGETHER_MODEL_NAME", "from-the-environment")  # the environment wins
    (link,) = provider_chain(GatewaySettings())
    assert (link.name, link.base_url, link.model, link.api_key) == (
        "together",
        "https://api.together.example/v1",
        "from-the-environment",
        "dot-env-key",
    )
