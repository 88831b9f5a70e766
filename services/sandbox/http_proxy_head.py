"""Reading a forward-proxy request head: `CONNECT host:port` or an absolute-form
`METHOD http://host[:port]/path` request, rewritten for the origin server."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

# Hop-by-hop headers meant for the proxy; the origin gets `Connection: close` so one
# connection can never be reused for another host.
DROPPED_HEADERS = ("proxy-", "connection:", "keep-alive:")


@dataclass(frozen=True)
class ProxyTarget:
    host: str
    port: int
    forward_head: bytes  # empty for CONNECT (a tunnel)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_head(head: bytes) -> ProxyTarget:
    """Raises ValueError naming what is wrong."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise ValueError("malformed request line")
    method, target, version = parts
    if method == "CONNECT":
        address = urlsplit(f"//{target}")
        if not address.hostname or address.port is None:
            raise ValueError("CONNECT needs host:port")
        return ProxyTarget(address.hostname.lower(), address.port, b"")
    url = urlsplit(target)
    if url.scheme != "http" or not url.hostname:
        raise ValueError("only CONNECT and absolute http:// requests are proxied")
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    headers = [line for line in lines[1:] if line and not line.lower().startswith(DROPPED_HEADERS)]
    rewritten = [f"{method} {path} {version}", *headers, "Connection: close", "", ""]
    return ProxyTarget(
        url.hostname.lower(), url.port or 80, "\r\n".join(rewritten).encode("latin-1")
    )
