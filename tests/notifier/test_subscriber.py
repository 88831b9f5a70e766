"""The notifier against a real redis-server: logging, reconnecting (in both modes), clean exit."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import redis

from tests.support.core_services import notifier_process
from tests.support.logs import log_events, settled_log, wait_for_log
from tests.support.processes import RedisProcess, free_port, redis_process
from tests.support.spawning import Spawner


def publish(port: int, channel: str, payload: str) -> int:
    with redis.Redis(host="127.0.0.1", port=port) as client:
        return int(client.publish(channel, payload))


def send(port: int, mode: str, payload: str) -> None:
    """A notification as the planner sends it in that mode (channel, or the stream)."""
    if mode == "pubsub":
        publish(port, "pagi_notifications", payload)
        return
    with redis.Redis(host="127.0.0.1", port=port) as client:
        client.xadd("pagi:notifications", {"payload": payload})


MODES = pytest.mark.parametrize("mode", ["pubsub", "stream"])


def test_logs_each_payload_raw_with_its_trace_id(
    spawn: Spawner, redis_server: RedisProcess, tmp_path: Path
) -> None:
    port = redis_server.port
    notifier = spawn(notifier_process(tmp_path, port, channel="chan-a", NOTIFIER_MODE="pubsub"))
    payload = json.dumps({"trace_id": "trace-123", "session_id": "s1", "status": "STARTED"})
    assert publish(port, "chan-a", payload) == 1
    publish(port, "chan-a", "plain text, not JSON")
    publish(port, "other-channel", "must not be logged")

    wait_for_log(notifier, "plain text, not JSON")
    received = log_events(notifier, "notification_received")
    assert [r["payload"] for r in received] == [payload, "plain text, not JSON"]
    assert received[0]["trace_id"] == "trace-123"
    assert received[0]["status"] == "STARTED"
    assert "trace_id" not in received[1]
    assert "must not be logged" not in settled_log(notifier)


@MODES
def test_waits_for_redis_at_start_and_subscribes_when_it_appears(
    spawn: Spawner, tmp_path: Path, mode: str
) -> None:
    port = free_port()
    notifier = spawn(
        notifier_process(tmp_path, port, ready_event="redis_unavailable", NOTIFIER_MODE=mode)
    )
    line = json.loads(wait_for_log(notifier, "redis_unavailable"))
    assert line["retry_in_seconds"] > 0
    assert notifier.alive()

    spawn(redis_process(tmp_path / "redis", port))
    wait_for_log(notifier, '"subscribed"', timeout=15)
    send(port, mode, '{"trace_id":"late-start"}')
    wait_for_log(notifier, "late-start")


@MODES
def test_resubscribes_after_redis_restarts_on_the_same_port(
    spawn: Spawner, tmp_path: Path, mode: str
) -> None:
    port = free_port()
    first = spawn(redis_process(tmp_path / "r1", port))
    notifier = spawn(notifier_process(tmp_path, port, NOTIFIER_MODE=mode))
    send(port, mode, '{"trace_id":"before-restart"}')
    wait_for_log(notifier, "before-restart")

    first.stop()
    offset = len(notifier.log())
    wait_for_log(notifier, "redis_unavailable", after=offset)
    spawn(redis_process(tmp_path / "r2", port))
    wait_for_log(notifier, '"subscribed"', timeout=15, after=offset)
    send(port, mode, '{"trace_id":"after-restart"}')
    wait_for_log(notifier, "after-restart")


def test_exits_cleanly_on_sigterm_and_sigint(
    spawn: Spawner, redis_server: RedisProcess, tmp_path: Path
) -> None:
    port = redis_server.port
    on_term = spawn(notifier_process(tmp_path / "term", port))
    assert on_term.stop() == 0
    on_int = spawn(notifier_process(tmp_path / "int", port))
    assert on_int.proc is not None
    on_int.proc.send_signal(signal.SIGINT)
    assert on_int.proc.wait(15) == 0
    assert '"stopped"' in on_int.log()


def test_rejects_a_malformed_redis_address(spawn: Spawner, tmp_path: Path) -> None:
    proc = notifier_process(tmp_path, 1)
    proc.env["REDIS_ADDR"] = "not an address"
    try:
        spawn(proc)
    except RuntimeError as exc:
        assert "REDIS_ADDR" in str(exc)
    else:
        raise AssertionError("the notifier started with REDIS_ADDR='not an address'")
