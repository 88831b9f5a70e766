"""Health checks the runner polls: HTTP /health, grpc.health.v1, Redis PING, a port in use."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Callable

from scripts.devstack.errors import RunnerError
from services.kit.errors import ConfigError
from services.kit.health_probe import client_credentials_from, grpc_serving

Check = Callable[[], bool]


def http_health(port: int, path: str = "/health") -> Check:
    def check() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as reply:
                return int(reply.status) == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    return check


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
