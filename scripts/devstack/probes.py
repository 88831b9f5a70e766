"""Health checks the runner polls: HTTP /health or /ready, grpc.health.v1, Redis PING, a port
in use."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from scripts.devstack.errors import RunnerError
from services.kit.errors import ConfigError
from services.kit.health_probe import client_credentials_from, grpc_serving

Check = Callable[[], bool]


class HttpReadiness:
    """A check that GET path answers 200. It keeps the JSON body of the last refusal, whose
    `ingestion` part says how far a memory service's start-up ingestion is."""

    def __init__(self, port: int, path: str = "/health") -> None:
        self.url = f"http://127.0.0.1:{port}{path}"
        self.last_refusal: dict[str, Any] = {}

    def __call__(self) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as reply:
                return int(reply.status) == 200
        except urllib.error.HTTPError as exc:
            self.last_refusal = json_body(exc)
            return False
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def progress(self) -> str:
        """A few words for the status line; empty when the refusal says nothing of it."""
        return ingestion_progress(self.last_refusal.get("ingestion"))


def http_health(port: int, path: str = "/health") -> HttpReadiness:
    return HttpReadiness(port, path)


def json_body(error: urllib.error.HTTPError) -> dict[str, Any]:
    try:
        body = json.loads(error.read(65536))
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


INGESTION_PHASES = {
    "pending": "reading knowledge bases",
    "running": "reading knowledge bases",
    "waiting": "ingestion waiting for a dependency",
    "failed": "ingestion failed",
}


def ingestion_progress(snapshot: Any) -> str:
    """How far start-up ingestion is, from memory's `ingestion` snapshot."""
    if not isinstance(snapshot, dict):
        return ""
    progress = snapshot.get("progress")
    if snapshot.get("state") == "running" and isinstance(progress, dict):
        return f"ingesting {progress.get('embedded', 0)}/{progress.get('total', 0)} chunks"
    return INGESTION_PHASES.get(str(snapshot.get("state")), "")


def grpc_health(port: int, env: dict[str, str]) -> Check:
    """grpc.health.v1 Check answering SERVING; uses the client mTLS files when set."""
    try:
        credentials = client_credentials_from(env)
    except (ConfigError, OSError) as exc:
        raise RunnerError(f"cannot use the client TLS files: {exc}") from None
    server_name = env.get("TLS_SERVER_NAME", "").strip()
    return lambda: grpc_serving(f"localhost:{port}", credentials, server_name, timeout=2)


def redis_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something at host:port answers PING with +PONG."""
    try:
        with socket.create_connection((host or "127.0.0.1", port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
