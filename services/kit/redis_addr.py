"""REDIS_ADDR parsing shared by the services that talk to Redis."""

from __future__ import annotations

from urllib.parse import urlsplit


def redis_url(addr: str) -> str:
    """REDIS_ADDR is host:port; a full redis:// or rediss:// URL is accepted too.

    Raises ValueError naming the expected shape, so settings validation reports it.
    """
    url = addr.strip() if "://" in addr else f"redis://{addr.strip()}"
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("redis", "rediss") or not parts.hostname or port is None:
        raise ValueError(f"expected host:port or redis://host:port, got {addr!r}")
    return url
