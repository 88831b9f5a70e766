"""The per-provider cooldown and the retry loop's waits, on a clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from services.model_gateway.chain import MAX_BACKOFF_SECONDS, RetryPolicy
from services.model_gateway.cooldown import Cooldowns
from services.model_gateway.openai_compat import retry_after_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_repeated_failures_start_a_cooldown_that_ends() -> None:
    clock = Clock()
    cooldowns = Cooldowns(failures=3, seconds=30, clock=clock)
    cooldowns.failed("openai", "HTTP 503")
    cooldowns.failed("openai", "HTTP 503")
    assert cooldowns.remaining("openai") == 0, "two failures are not yet a pattern"
    cooldowns.failed("openai", "HTTP 503")
    assert cooldowns.remaining("openai") == 30
    assert cooldowns.remaining("openrouter") == 0, "each provider has its own"
    clock.now += 30
    assert cooldowns.remaining("openai") == 0


def test_one_failure_after_a_cooldown_starts_the_next_one() -> None:
    clock = Clock()
    cooldowns = Cooldowns(failures=3, seconds=30, clock=clock)
    for _ in range(3):
        cooldowns.failed("openai", "down")
    clock.now += 31
    cooldowns.failed("openai", "still down")
    assert cooldowns.remaining("openai") == 30


def test_a_success_clears_the_count() -> None:
    cooldowns = Cooldowns(failures=2, seconds=30, clock=Clock())
    cooldowns.failed("openai", "blip")
    cooldowns.succeeded("openai")
    cooldowns.failed("openai", "blip")
    assert cooldowns.remaining("openai") == 0


def test_a_provider_s_own_retry_after_can_hold_it_longer_never_shorter() -> None:
    clock = Clock()
    cooldowns = Cooldowns(failures=1, seconds=30, clock=clock)
    cooldowns.hold("openai", 120, "quota")
    cooldowns.failed("openai", "quota")  # the 30 s cooldown would end sooner
    assert cooldowns.remaining("openai") == 120


def test_zero_seconds_never_cools_down() -> None:
    cooldowns = Cooldowns(failures=1, seconds=0, clock=Clock())
    for _ in range(5):
        cooldowns.failed("openai", "down")
    assert cooldowns.remaining("openai") == 0


def test_backoff_has_jitter_grows_and_is_capped() -> None:
    policy = RetryPolicy(max_retries=5, attempt_timeout=0)
    first = {policy.backoff(1, None) for _ in range(50)}
    assert len(first) > 1, "callers must not retry in step"
    assert all(0.125 <= wait <= 0.25 for wait in first)
    assert all(0.25 <= policy.backoff(2, None) <= 0.5 for _ in range(50))
    assert all(policy.backoff(9, None) <= MAX_BACKOFF_SECONDS for _ in range(50))
    assert policy.backoff(1, 3.5) == 3.5, "the provider's Retry-After wins"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", 2.0), ("0.5", 0.5), ("-3", 0.0), ("soon", None), ("", None)],
)
def test_retry_after_in_seconds(value: str, expected: float | None) -> None:
    headers = CIMultiDictProxy(CIMultiDict({"Retry-After": value} if value else {}))
    assert retry_after_seconds(headers) == expected


def test_retry_after_as_an_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    headers = CIMultiDictProxy(CIMultiDict({"Retry-After": format_datetime(when, usegmt=True)}))
    seconds = retry_after_seconds(headers)
    assert seconds is not None and 60 < seconds <= 90
