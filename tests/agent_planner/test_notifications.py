"""Redis down at start: /plan still answers, `redis_unavailable` is logged, and
notifications flow once a Redis appears on that address; each notification is also
appended to the trimmed notifications stream."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import redis

from tests.agent_planner.conftest import start_lone_planner
from tests.support.logs import logged, wait_for_log
from tests.support.processes import free_port, redis_process
from tests.support.spawning import Spawner

BODY = json.dumps({"prompt": "notify me", "session_id": "s-notify"})


def test_redis_down_at_start_then_up(spawn: Spawner, tmp_path: Path) -> None:
    redis_port = free_port()
    planner = start_lone_planner(spawn, tmp_path, REDIS_ADDR=f"127.0.0.1:{redis_port}")
    reply = planner.post("/plan", BODY)
    assert reply.status_code == 500  # the gateway is down too, but the planner answers
    assert reply.json()["error"].startswith("Agent execution failed: GetPlan: UNAVAILABLE")
    assert logged(planner.process, "redis_unavailable")

    spawn(redis_process(tmp_path / "redis", redis_port))
    with redis.Redis(host="127.0.0.1", port=redis_port) as client:
        pubsub = client.pubsub()
        pubsub.subscribe("pagi_notifications")
        deadline = time.monotonic() + 60  # only a planner that never reconnects reaches it
        sent: set[str] = set()
        received = None
        while received is None and time.monotonic() < deadline:
            sent.add(planner.post("/plan", BODY).headers["X-Trace-ID"])
            received = wait_for_message(pubsub, sent, 2)
    redis_events = [line for line in planner.process.log().splitlines() if "redis" in line]
    assert received is not None, f"no notification after Redis came up: {redis_events}"
    assert received["status"] == "STARTED"
    assert received["session_id"] == "s-notify"
    # Logged after the publish succeeds, so possibly just after a subscriber saw it.
    wait_for_log(planner.process, '"redis_connected"')


def wait_for_message(
    pubsub: redis.client.PubSub, trace_ids: set[str], timeout: float
) -> dict[str, str] | None:
    """The first message for one of trace_ids within timeout (late ones count too)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message and message["type"] == "message":
            payload = json.loads(message["data"])
            if payload.get("trace_id") in trace_ids:
                return dict(payload)
    return None


def test_every_notification_is_also_appended_to_a_trimmed_stream(
    spawn: Spawner, redis_server: Any, tmp_path: Path
) -> None:
    port = redis_server.port
    stream = f"trimmed-{uuid.uuid4().hex[:8]}"
    with redis.Redis(host="127.0.0.1", port=port) as client:
        for n in range(1000):  # an old backlog the planner's next append must trim
            client.xadd(stream, {"payload": json.dumps({"old": n})})
        planner = start_lone_planner(
            spawn,
            tmp_path,
            REDIS_ADDR=f"127.0.0.1:{port}",
            PAGI_NOTIFICATIONS_STREAM=stream,
            PAGI_NOTIFICATIONS_STREAM_MAXLEN="100",
        )
        trace_id = planner.post("/plan", BODY).headers["X-Trace-ID"]
        deadline = time.monotonic() + 30
        newest: list[Any] = []
        while time.monotonic() < deadline and not newest:
            newest = [
                json.loads(fields[b"payload"])
                for _, fields in client.xrevrange(stream, count=1)
                if json.loads(fields[b"payload"]).get("trace_id") == trace_id
            ]
            time.sleep(0.1)
        assert newest and newest[0]["status"] == "STARTED"
        assert client.xlen(stream) < 300  # about MAXLEN: Redis trims whole nodes
