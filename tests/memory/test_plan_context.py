"""GetPlanContext: GetRAGContext and GET /memory/latest in one call, answered exactly as the
two are, with each part failing alone and bad requests refused naming the field."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.memory.conftest import write_library
from tests.support.grpcurl import grpcurl_json, grpcurl_refused
from tests.support.memory import MemoryProcess, memory_process
from tests.support.postgres import PostgresCluster
from tests.support.spawning import Spawner

PLAN_CONTEXT = "modelgateway.ModelGateway/GetPlanContext"
RAG = "modelgateway.ModelGateway/GetRAGContext"
QUERY = {"query": "which tool searches the web", "top_k": 2, "knowledge_bases": ["Body-KB"]}


def store(memory: MemoryProcess, session_id: str, *contents: str) -> None:
    history = [{"role": "user", "content": content} for content in contents]
    body = {"session_id": session_id, "history": history, "prompt": "p", "llm_response": {}}
    reply = httpx.post(f"{memory.url}/memory/store", json=body, timeout=30)
    assert reply.status_code == 200, reply.text


def latest(memory: MemoryProcess, **params: Any) -> dict[str, Any]:
    reply = httpx.get(f"{memory.url}/memory/latest", params=params, timeout=30)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def role_and_content(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in messages]


def test_one_call_answers_as_rag_context_and_latest_do(memory: MemoryProcess) -> None:
    store(memory, "s-plan-context", "first", "second", "third")
    reply = grpcurl_json(
        memory.address,
        PLAN_CONTEXT,
        {"rag": QUERY, "session_id": "s-plan-context", "history_limit": 2},
    )
    assert reply["matches"] == grpcurl_json(memory.address, RAG, QUERY)["matches"]
    assert reply["session_id"] == "s-plan-context"
    expected = latest(memory, session_id="s-plan-context", limit=2)["messages"]
    assert role_and_content(reply["history"]) == role_and_content(expected)
    assert [m["content"] for m in reply["history"]] == ["second", "third"]
    assert "rag_error" not in reply and "history_error" not in reply


def test_no_session_id_means_the_latest_session_and_no_limit_means_all(
    memory: MemoryProcess,
) -> None:
    store(memory, "s-most-recent", "one", "two", "three")
    reply = grpcurl_json(memory.address, PLAN_CONTEXT, {"rag": QUERY})
    assert reply["session_id"] == latest(memory)["session_id"] == "s-most-recent"
    assert [m["content"] for m in reply["history"]] == ["one", "two", "three"]
    unknown = grpcurl_json(memory.address, PLAN_CONTEXT, {"rag": QUERY, "session_id": "s-none"})
    assert "history" not in unknown and unknown["matches"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"rag": QUERY, "history_limit": -1}, "history_limit"),
        ({"rag": QUERY, "history_limit": 10_001}, "history_limit"),
        ({"rag": {"query": "  "}, "session_id": "s"}, "rag.query"),
        ({"rag": {"query": "q", "namespace": "bad namespace!"}}, "rag.namespace"),
    ],
)
def test_bad_requests_are_invalid_argument_naming_the_field(
    memory: MemoryProcess, body: dict[str, Any], named: str
) -> None:
    error = grpcurl_refused(memory.address, PLAN_CONTEXT, body)
    assert "InvalidArgument" in error
    assert named in error


def test_history_too_large_for_one_reply_is_left_to_http(memory: MemoryProcess) -> None:
    big = "x" * 900_000
    for _ in range(5):  # 4.5 MB: over gRPC's 4 MiB message limit
        store(memory, "s-big-history", big)
    store(memory, "s-big-history", "the last one")
    body = {"rag": QUERY, "session_id": "s-big-history"}
    reply = grpcurl_json(memory.address, PLAN_CONTEXT, body)
    assert reply["history_error"].startswith("history too large for one reply: 6 messages")
    assert "GET /memory/latest" in reply["history_error"]
    assert "history" not in reply and reply["matches"]
    limited = grpcurl_json(memory.address, PLAN_CONTEXT, {**body, "history_limit": 2})
    assert [m["content"][:3] for m in limited["history"]] == ["xxx", "the"]


async def rename_messages(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("ALTER TABLE messages RENAME TO messages_elsewhere")
    finally:
        await connection.close()


def test_history_that_cannot_be_read_leaves_the_rag_part_answered(
    tmp_path: Path, spawn: Spawner, postgres_cluster: PostgresCluster
) -> None:
    url = postgres_cluster.create_database()
    library = write_library(tmp_path / "kb", {"Body-KB/lamp.txt": "The lamp API lights up."})
    memory = spawn(memory_process(tmp_path, KNOWLEDGE_BASES_DIR=str(library), DATABASE_URL=url))
    memory.wait_for_ingestion()
    store(memory, "s-1", "hello")
    asyncio.run(rename_messages(url))  # the history query now fails in the database
    query = {"query": "turn the light on", "top_k": 1, "knowledge_bases": ["Body-KB"]}
    reply = grpcurl_json(memory.address, PLAN_CONTEXT, {"rag": query, "session_id": "s-1"})
    assert reply["history_error"].startswith("dependency unavailable: postgresql: query failed")
    assert "history" not in reply
    [match] = reply["matches"]
    assert match["source"] == "kb/Body-KB/lamp.txt"
