"""Heart-KB over HTTP: ordered history, latest session, limits, concurrency, restarts."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.support.memory import MemoryProcess, memory_process
from tests.support.spawning import Spawner


def store(url: str, session_id: str, history: list[dict[str, Any]]) -> httpx.Response:
    body = {"session_id": session_id, "history": history, "prompt": "p", "llm_response": {}}
    return httpx.post(f"{url}/memory/store", json=body, timeout=30)


def latest(url: str, **params: Any) -> dict[str, Any]:
    response = httpx.get(f"{url}/memory/latest", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def contents(reply: dict[str, Any]) -> list[str]:
    return [m["content"] for m in reply["messages"]]


def test_store_appends_and_latest_returns_in_order(memory: MemoryProcess) -> None:
    session = f"s-{uuid.uuid4()}"
    first = store(memory.url, session, [{"role": "user", "content": "one"}])
    assert first.json() == {"status": "ok", "session_id": session, "turns": 1}
    second = [{"role": "assistant", "content": "two"}, {"role": "user", "content": "three"}]
    assert store(memory.url, session, second).json()["turns"] == 2
    reply = latest(memory.url, session_id=session)
    assert reply["session_id"] == session
    assert [(m["role"], m["content"]) for m in reply["messages"]] == [
        ("user", "one"),
        ("assistant", "two"),
        ("user", "three"),
    ]
    assert contents(latest(memory.url, session_id=session, limit=2)) == ["two", "three"]


def test_latest_without_session_is_the_most_recently_updated(memory: MemoryProcess) -> None:
    older, newer = f"old-{uuid.uuid4()}", f"new-{uuid.uuid4()}"
    store(memory.url, older, [{"role": "user", "content": "a"}])
    store(memory.url, newer, [{"role": "user", "content": "b"}])
    store(memory.url, older, [{"role": "user", "content": "c"}])
    reply = latest(memory.url)
    assert reply["session_id"] == older
    assert contents(reply) == ["a", "c"]


def test_unknown_session_has_no_messages(memory: MemoryProcess) -> None:
    assert latest(memory.url, session_id="never-seen")["messages"] == []


def test_extra_message_fields_are_kept(memory: MemoryProcess) -> None:
    session = f"s-{uuid.uuid4()}"
    store(memory.url, session, [{"role": "tool-output", "content": "{}", "tool": "web_search"}])
    [message] = latest(memory.url, session_id=session)["messages"]
    assert message["tool"] == "web_search"
    assert message["role"] == "tool-output"


def test_fifty_concurrent_stores_lose_nothing_and_keep_each_request_contiguous(
    memory: MemoryProcess,
) -> None:
    session = f"busy-{uuid.uuid4()}"

    async def one(client: httpx.AsyncClient, n: int) -> int:
        history = [{"role": "user", "content": f"r{n}-m{i}"} for i in range(3)]
        body = {"session_id": session, "history": history}
        response = await client.post(f"{memory.url}/memory/store", json=body)
        return response.status_code

    async def all_at_once() -> list[int]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(*(one(client, n) for n in range(50)))

    assert asyncio.run(all_at_once()) == [200] * 50
    stored = contents(latest(memory.url, session_id=session))
    assert len(stored) == 150
    for start in range(0, 150, 3):
        request = stored[start].split("-")[0]
        assert stored[start : start + 3] == [f"{request}-m{i}" for i in range(3)]
    assert sorted({s.split("-")[0] for s in stored}) == sorted(f"r{n}" for n in range(50))


def test_history_survives_a_restart(tmp_path: Path, spawn: Spawner) -> None:
    first = memory_process(tmp_path)
    spawn(first)
    store(first.url, "durable", [{"role": "user", "content": "remember me"}])
    assert first.stop() == 0
    ports = {k: first.env[k] for k in ("MEMORY_PORT", "MEMORY_GRPC_PORT")}
    second = memory_process(tmp_path, **ports)
    spawn(second)
    assert contents(latest(second.url, session_id="durable")) == ["remember me"]
    assert latest(second.url)["session_id"] == "durable"


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"deeper": value}
    return value


def test_a_message_nested_past_the_limit_is_refused_and_the_session_stays_readable(
    memory: MemoryProcess,
) -> None:
    session = f"deep-{uuid.uuid4()}"
    store(memory.url, session, [{"role": "user", "content": "before"}])
    poisoned = {"role": "user", "content": "x", "extra": nested(900)}
    reply = store(memory.url, session, [poisoned])
    assert reply.status_code == 400
    assert "nested deeper than 64 levels" in reply.json()["error"]
    store(memory.url, session, [{"role": "user", "content": "after", "meta": nested(20)}])
    assert contents(latest(memory.url, session_id=session)) == ["before", "after"]


def test_numbers_that_cannot_be_read_back_are_refused(memory: MemoryProcess) -> None:
    session = f"nan-{uuid.uuid4()}"
    for number in ("NaN", "1e999", "-Infinity"):
        body = (
            f'{{"session_id": "{session}", "history": '
            f'[{{"role": "user", "content": "x", "score": {number}}}]}}'
        )
        reply = httpx.post(
            f"{memory.url}/memory/store",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert reply.status_code == 400, reply.text
        assert "not finite" in reply.json()["error"]
    assert latest(memory.url, session_id=session)["messages"] == []


def test_a_row_stored_before_the_limits_loses_its_extras_not_the_message(
    memory: MemoryProcess,
) -> None:
    session = f"legacy-{uuid.uuid4()}"
    store(memory.url, session, [{"role": "user", "content": "kept"}])
    with sqlite3.connect(memory.env["SESSION_DB_PATH"], timeout=10) as db:
        db.execute(
            "INSERT INTO messages (session_id, role, content, extra, stored_at)"
            " VALUES (?, 'assistant', 'also kept', ?, '2026-01-01T00:00:00Z')",
            (session, json.dumps({"extra": nested(900)})),
        )
    messages = latest(memory.url, session_id=session)["messages"]
    assert [m["content"] for m in messages] == ["kept", "also kept"]
    assert "nested deeper than 64 levels" in messages[1]["extra_unreadable"]
