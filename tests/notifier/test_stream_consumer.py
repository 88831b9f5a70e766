"""Stream mode: a notifier that was down catches up on every notification the planner
sent, logs each once (also across restarts), and reclaims entries a dead consumer left
pending; an entry already logged before a crash is acknowledged without a second line."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.support.core_services import CoreStack, notifier_process
from tests.support.logs import log_events, wait_for_log
from tests.support.processes import RedisProcess, ServiceProcess, redis_process
from tests.support.spawning import Spawner
from tests.support.sse import read_events

HELLO = "Generate a 3-step plan to water the plants"
STREAM = "pagi:notifications"


def received(notifier: ServiceProcess) -> list[dict[str, Any]]:
    return log_events(notifier, "notification_received")


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen after {timeout}s")
        time.sleep(0.1)


def sentinel(port: int, stream: str = STREAM) -> str:
    """Append a marker entry; once it is logged, everything before it was handled."""
    marker = f"sentinel-{uuid.uuid4().hex}"
    with redis.Redis(host="127.0.0.1", port=port) as client:
        client.xadd(stream, {"payload": json.dumps({"trace_id": marker})})
    return marker


def finish_runs(stack: CoreStack, count: int) -> list[str]:
    planner = stack.planner
    traces = []
    for n in range(count):
        reply = httpx.post(
            f"{planner.url}/runs",
            json={"prompt": HELLO, "session_id": "s-catch-up"},
            headers=planner.headers(**{"X-Trace-ID": f"catch-up-{uuid.uuid4().hex[:8]}-{n}"}),
        )
        assert reply.status_code == 202, reply.text
        traces.append((reply.json()["trace_id"], reply.json()["run_id"]))
    for _, run_id in traces:
        events = read_events(f"{planner.url}/runs/{run_id}/events", planner.headers())
        assert events[-1].event == "run.succeeded"
    return [trace for trace, _ in traces]


def test_notifier_down_catches_up_on_every_run_once(
    core_stack: CoreStack, spawn: Spawner, tmp_path: Path
) -> None:
    traces = finish_runs(core_stack, 20)
    group = f"catch-up-{uuid.uuid4().hex[:6]}"  # a notifier that has never run before
    env = {"NOTIFIER_GROUP": group, "NOTIFIER_CONSUMER": "catch-up-1"}
    notifier = spawn(notifier_process(tmp_path, core_stack.ports.redis, **env))
    marker = sentinel(core_stack.ports.redis)
    wait_for_log(notifier, marker)
    mine = [r for r in received(notifier) if r.get("trace_id") in traces]
    for trace in traces:
        lines = [r.get("status", "result") for r in mine if r["trace_id"] == trace]
        assert lines == ["STARTED", "result", "COMPLETED"], trace
    assert len({r["stream_id"] for r in mine}) == len(mine) == 60

    notifier.stop()
    again = spawn(notifier_process(tmp_path / "again", core_stack.ports.redis, **env))
    second_marker = sentinel(core_stack.ports.redis)
    wait_for_log(again, second_marker)
    assert [r for r in received(again) if r.get("trace_id") in traces] == []


def read_without_ack(port: int, stream: str, group: str, payloads: list[str]) -> list[str]:
    """A consumer that takes entries and dies before acknowledging them."""
    with redis.Redis(host="127.0.0.1", port=port) as client:
        client.xgroup_create(stream, group, id="0", mkstream=True)
        ids = [client.xadd(stream, {"payload": p}).decode() for p in payloads]
        client.xreadgroup(group, "dead-consumer", {stream: ">"}, count=len(payloads))
    return ids


def pending(port: int, stream: str, group: str) -> int:
    with redis.Redis(host="127.0.0.1", port=port) as client:
        return int(client.xpending(stream, group)["pending"])


def test_entries_left_by_a_dead_consumer_are_reclaimed_once(
    redis_server: RedisProcess, spawn: Spawner, tmp_path: Path
) -> None:
    port = redis_server.port
    stream, group = f"reclaim-{uuid.uuid4().hex[:6]}", "notifier"
    payloads = [json.dumps({"trace_id": f"orphan-{n}"}) for n in range(3)]
    ids = read_without_ack(port, stream, group, payloads)
    with redis.Redis(host="127.0.0.1", port=port) as client:
        client.set(f"{stream}:done:{group}:{ids[2]}", 1)  # logged just before that crash
    notifier = spawn(
        notifier_process(
            tmp_path,
            port,
            PAGI_NOTIFICATIONS_STREAM=stream,
            NOTIFIER_CONSUMER="survivor",
            NOTIFIER_CLAIM_IDLE_SECONDS="0.2",
        )
    )
    wait_until(lambda: pending(port, stream, group) == 0, "every entry acknowledged")
    lines = received(notifier)
    assert [r["payload"] for r in lines] == payloads[:2]
    assert [r["stream_id"] for r in lines] == ids[:2]
    assert log_events(notifier, "notifications_reclaimed")


def test_new_entries_are_logged_and_acknowledged_without_looking_up_done_markers(
    spawn: Spawner, tmp_path: Path
) -> None:
    """Entries read for the first time cannot have been logged before: one XREADGROUP and
    one MULTI (SET marker + XACK) per batch, no MGET of markers."""
    own_redis = spawn(redis_process(tmp_path / "redis"))
    notifier = spawn(notifier_process(tmp_path, own_redis.port))
    payloads = [json.dumps({"trace_id": f"fresh-{n}"}) for n in range(5)]
    with redis.Redis(host="127.0.0.1", port=own_redis.port) as client:
        ids = [client.xadd(STREAM, {"payload": p}).decode() for p in payloads]
        wait_until(lambda: pending(own_redis.port, STREAM, "notifier") == 0, "all acknowledged")
        wait_until(lambda: len(received(notifier)) == 5, "every entry logged")
        stats = client.info("commandstats")
    assert [r["stream_id"] for r in received(notifier)] == ids
    assert stats["cmdstat_xack"]["calls"] == 5
    assert "cmdstat_mget" not in stats


def test_entries_arriving_close_together_are_read_in_one_round_trip(
    spawn: Spawner, tmp_path: Path
) -> None:
    """After a read brings entries the notifier waits NOTIFIER_BATCH_WAIT_MS before the
    next: the four entries written while it waits come with one read, not one read each."""
    own_redis = spawn(redis_process(tmp_path / "redis"))
    notifier = spawn(notifier_process(tmp_path, own_redis.port, NOTIFIER_BATCH_WAIT_MS="500"))
    payloads = [json.dumps({"trace_id": f"close-{n}"}) for n in range(5)]
    with redis.Redis(host="127.0.0.1", port=own_redis.port) as client:
        before = client.info("commandstats")["cmdstat_xreadgroup"]["calls"]
        for payload in payloads:
            client.xadd(STREAM, {"payload": payload})
            time.sleep(0.05)
        wait_until(lambda: len(received(notifier)) == 5, "every entry logged")
        wait_until(lambda: pending(own_redis.port, STREAM, "notifier") == 0, "all acknowledged")
        reads = client.info("commandstats")["cmdstat_xreadgroup"]["calls"] - before
    # The blocked read that brought the first entry, the one that brought the other four
    # and the blocked read after them (without the wait: a read per entry and one more).
    assert reads <= 3, reads
    assert [r["payload"] for r in received(notifier)] == payloads
