"""The provider chain: the one retry loop of the gateway.

Each provider gets up to 1 + LLM_MAX_RETRIES attempts on retryable failures (backoff with
jitter, or the provider's Retry-After), then the next provider is tried. A rejection
(400, 401, 403, ...) ends the call at once. Providers in cooldown are skipped. Nothing waits
past the call's deadline: a backoff that would not fit moves on to the next provider.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.kit.logs import get_logger
from services.kit.metrics import child
from services.model_gateway.chain_config import ProviderConfig
from services.model_gateway.completion import Completion, Usage
from services.model_gateway.cooldown import Cooldowns
from services.model_gateway.errors import (
    ChainDeadline,
    ChainExhausted,
    UpstreamRejected,
    UpstreamUnavailable,
)
from services.model_gateway.metrics import ATTEMPTS
from services.model_gateway.redaction import Redactor

log = get_logger("model_gateway")
FIRST_BACKOFF_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 2.0
DeltaSink = Callable[[str], None]


class StreamSink(Protocol):
    """Where a streaming call's text goes; `restart` voids what an earlier attempt sent."""

    def delta(self, text: str) -> None: ...

    def restart(self) -> None: ...


@dataclass(frozen=True)
class ModelRequest:
    prompt: str  # the planner input (the mock plans from it)
    messages: list[dict[str, str]]  # what OpenAI-compatible providers are sent


class Provider(Protocol):
    config: ProviderConfig

    async def answer(
        self, request: ModelRequest, timeout: float, on_delta: DeltaSink | None
    ) -> Completion: ...


@dataclass
class ChainReport:
    """What one call went through, filled in as it happens (so failures report it too)."""

    provider: str = ""
    model: str = ""
    attempts: int = 0
    fallbacks: int = 0
    upstream_seconds: float = 0.0
    waited_seconds: float = 0.0
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    attempt_timeout: float  # 0: an attempt may use the whole remaining budget

    def backoff(self, retry: int, retry_after: float | None) -> float:
        """The wait before retry number `retry` (1-based): Retry-After when the provider gave
        one, else exponential backoff with jitter so callers do not retry in step."""
        if retry_after is not None:
            return retry_after
        ceiling = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (retry - 1))
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class ChainCall:
    """One call through the chain: what is asked, by when (event-loop time), where its
    report is kept and, when streaming, where its text goes."""

    request: ModelRequest
    deadline: float
    report: ChainReport
    sink: StreamSink | None = None


class ProviderChain:
    def __init__(
        self,
        providers: Sequence[Provider],
        policy: RetryPolicy,
        cooldowns: Cooldowns,
        redact: Redactor,
    ) -> None:
        self.providers = list(providers)
        self._policy = policy
        self._cooldowns = cooldowns
        self._redact = redact

    def state(self) -> list[dict[str, Any]]:
        """Each provider in order, with the seconds left of its cooldown (0: it is called)."""
        return [
            {
                "provider": p.config.name,
                "model": p.config.model,
                "cooling_down_s": round(self._cooldowns.remaining(p.config.name), 1),
            }
            for p in self.providers
        ]

    async def run(
        self,
        request: ModelRequest,
        deadline: float,
        report: ChainReport,
        sink: StreamSink | None = None,
    ) -> Completion:
        """The first usable answer along the chain; raises UpstreamRejected, ChainExhausted
        or ChainDeadline (`deadline` is in event-loop time)."""
        call = ChainCall(request, deadline, report, sink)
        failures: list[str] = []
        for index, provider in enumerate(self.providers):
            name = provider.config.name
            cooling = self._cooldowns.remaining(name)
            if cooling > 0:
                failures.append(f"{name}: cooling down for {cooling:.1f}s")
                continue
            report.fallbacks = index
            report.provider, report.model = name, provider.config.model
            completion = await self._attempts(provider, call, failures)
            if completion is not None:
                return completion
        raise ChainExhausted("no provider gave a plan: " + "; ".join(failures))

    async def _attempts(
        self, provider: Provider, call: ChainCall, failures: list[str]
    ) -> Completion | None:
        """The provider's answer, or None after recording why it gave none."""
        name = provider.config.name
        loop = asyncio.get_running_loop()
        error = "not tried"
        for retry in range(self._policy.max_retries + 1):
            if call.report.attempts and call.sink is not None:
                call.sink.restart()
            call.report.attempts += 1
            try:
                return await self._attempt(provider, call)
            except UpstreamUnavailable as exc:
                error, retry_after = self._redact(str(exc)), exc.retry_after
            self._cooldowns.failed(name, error)
            delay = self._policy.backoff(retry + 1, retry_after)
            if self._cooldowns.remaining(name) > 0 or retry == self._policy.max_retries:
                break
            if loop.time() + delay >= call.deadline:
                if retry_after is not None:  # the provider said when to come back
                    self._cooldowns.hold(name, retry_after, error)
                break
            log.warning(
                "provider_retry",
                provider=name,
                retry=retry + 1,
                delay_s=round(delay, 3),
                error=error,
            )
            await asyncio.sleep(delay)
            call.report.waited_seconds += delay
        failures.append(f"{name}: {error}")
        return None

    async def _attempt(self, provider: Provider, call: ChainCall) -> Completion:
        name = provider.config.name
        loop = asyncio.get_running_loop()
        started = loop.time()
        remaining = call.deadline - started
        if remaining <= 0:
            raise ChainDeadline
        timeout = remaining
        if self._policy.attempt_timeout:
            timeout = min(timeout, self._policy.attempt_timeout)
        on_delta = call.sink.delta if call.sink is not None else None
        try:
            async with asyncio.timeout(timeout):
                completion = await provider.answer(call.request, timeout, on_delta)
        except UpstreamRejected:
            child(ATTEMPTS, name, "rejected").inc()
            raise
        except UpstreamUnavailable:
            child(ATTEMPTS, name, "retryable").inc()
            raise
        except TimeoutError:
            child(ATTEMPTS, name, "timeout").inc()
            if loop.time() >= call.deadline:
                raise ChainDeadline from None
            raise UpstreamUnavailable(f"{name} gave no answer within {timeout:g}s") from None
        finally:
            call.report.upstream_seconds += loop.time() - started
        child(ATTEMPTS, name, "ok").inc()
        self._cooldowns.succeeded(name)
        call.report.usage = completion.usage
        return completion
