"""Redaction of API keys from every text the gateway lets out (errors, logs, plans, deltas).

Providers quote the key they were sent in their 401 text (`Incorrect API key provided:
sk-...`); the configured key values are replaced wherever they appear, and so is anything
shaped like a bearer token or an `sk-` key, configured here or not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"
_TOKEN_SHAPES = re.compile(
    r"(?P<bearer>\bBearer\s+)[A-Za-z0-9._~+/=-]{4,}"
    r"|\bsk-[A-Za-z0-9_-]{6,}",
    re.IGNORECASE,
)
MIN_SECRET_CHARS = 4  # shorter "keys" (placeholders for keyless servers) would mangle text


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a key that contains another is replaced whole.
        self._secrets = sorted(
            {s for s in secrets if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True
        )
        self.longest = max((len(s) for s in self._secrets), default=0)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _TOKEN_SHAPES.sub(_replacement, text)

    def known_secrets(self, text: str) -> str:
        """Only the configured values (cheap; for model output, which may say "Bearer")."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def _replacement(match: re.Match[str]) -> str:
    return f"{match.group('bearer')}{REDACTED}" if match.group("bearer") else REDACTED


class StreamRedactor:
    """Redacts configured keys from a text that arrives in pieces: holds back the tail that
    could be the start of a key split across two pieces until the next piece shows."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._pending = ""

    def feed(self, piece: str) -> str:
        """The text that is safe to send now."""
        text = self._redactor.known_secrets(self._pending + piece)
        keep = min(len(text), max(self._redactor.longest - 1, 0))
        cut = len(text) - keep
        self._pending = text[cut:]
        return text[:cut]

    def flush(self) -> str:
        text, self._pending = self._redactor.known_secrets(self._pending), ""
        return text
