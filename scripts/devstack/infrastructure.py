"""Servers that are not project services but that a profile needs: found running, or
started here when they are installed. Each builder returns None when one already answers,
a Service to start otherwise, or raises Unavailable with what the user can do."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

from scripts.devstack.console import Console
from scripts.devstack.environment import setting_default, split_redis_addr
from scripts.devstack.probes import redis_answers
from scripts.devstack.scale import chroma_service, postgres_service
from scripts.devstack.service import LOG_DIR, Service
from services.kit.redis_settings import RedisChannelSettings

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}


class Unavailable(Exception):
    """The server does not answer and cannot be started; the message says what is lost."""


Builder = Callable[[dict[str, str], Console], Service | None]


def redis_service(env: dict[str, str], console: Console) -> Service | None:
    """None when a Redis answers at REDIS_ADDR, else a local redis-server to start."""
    default = setting_default(RedisChannelSettings, "REDIS_ADDR")
    host, port = split_redis_addr(env.get("REDIS_ADDR", "") or default)
    if redis_answers(host, port):
        console.note(f"using the Redis at {host}:{port}")
        return None
    binary = shutil.which("redis-server")
    if binary is None or host not in LOCAL_HOSTS:
        reason = (
            "redis-server is not installed"
            if binary is None
            else f"{host} is not this machine, so no local redis-server is started"
        )
        raise Unavailable(
            f"no Redis answers at {host}:{port} and {reason}: notifications are OFF. The "
            "planner still answers /plan; the notifier is not started. Install redis-server "
            "or set REDIS_ADDR to a running Redis."
        )
    console.note(f"no Redis answers at {host}:{port}; starting a local redis-server")
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(LOG_DIR.resolve())]
    return Service(
        "redis",
        argv,
        {"REDIS_ADDR": port},
        dict(os.environ),
        lambda: redis_answers("127.0.0.1", port),
    )


INFRASTRUCTURE: dict[str, Builder] = {
    "redis": redis_service,
    "postgres": postgres_service,
    "chroma": chroma_service,
}
