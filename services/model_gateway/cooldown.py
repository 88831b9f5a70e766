"""Per-provider cooldown: a provider whose attempts keep failing is skipped for a while, so
a dead provider costs nothing per request until it is due for another try."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from services.kit.logs import get_logger
from services.model_gateway.metrics import PROVIDER_COOLDOWNS

log = get_logger("model_gateway")


@dataclass
class _State:
    consecutive_failures: int = 0
    cooling_until: float = 0.0


class Cooldowns:
    def __init__(
        self, failures: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._failures = failures
        self._seconds = seconds
        self._clock = clock
        self._states: dict[str, _State] = {}

    def remaining(self, provider: str) -> float:
        """Seconds left of the provider's cooldown (0 when it may be called)."""
        state = self._states.get(provider)
        return max(0.0, state.cooling_until - self._clock()) if state else 0.0

    def succeeded(self, provider: str) -> None:
        self._states.pop(provider, None)

    def failed(self, provider: str, error: str) -> None:
        """Count a failed attempt; the LLM_COOLDOWN_FAILURES-th in a row starts a cooldown."""
        state = self._states.setdefault(provider, _State())
        state.consecutive_failures += 1
        if state.consecutive_failures >= self._failures and self._seconds > 0:
            self.hold(provider, self._seconds, error)

    def hold(self, provider: str, seconds: float, error: str) -> None:
        """Skip the provider for `seconds` (its own Retry-After, or the cooldown)."""
        state = self._states.setdefault(provider, _State())
        until = self._clock() + seconds
        if until <= state.cooling_until:
            return
        state.cooling_until = until
        # Once the cooldown is over, one more failure is enough to start the next one.
        state.consecutive_failures = self._failures - 1
        PROVIDER_COOLDOWNS.labels(provider).inc()
        log.warning("provider_cooldown", provider=provider, seconds=round(seconds, 3), error=error)
