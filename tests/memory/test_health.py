"""Deep health: Chroma (server mode, really killed) or SQLite unreachable -> HTTP 503 and
gRPC NOT_SERVING naming the dependency; the rest of the service keeps working."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import chromadb
import httpx
from chromadb.config import Settings

from tests.memory.conftest import write_library
from tests.support.grpcurl import grpcurl, grpcurl_json
from tests.support.memory import MemoryProcess, chroma_server_process, memory_process
from tests.support.processes import grpc_ready
from tests.support.spawning import Spawner

RAG = "modelgateway.ModelGateway/GetRAGContext"
HEALTH = "grpc.health.v1.Health/Check"


def wait_for_health(memory: MemoryProcess, status: int, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        reply = httpx.get(f"{memory.url}/health", timeout=10)
        if reply.status_code == status or time.monotonic() > deadline:
            assert reply.status_code == status, reply.text
            return reply.json()
        time.sleep(0.3)


def test_chroma_server_mode_and_its_outage(tmp_path: Path, spawn: Spawner) -> None:
    chroma = chroma_server_process(tmp_path)
    spawn(chroma)
    library = write_library(
        tmp_path / "kb", {"Body-KB/lamp.txt": "The lamp API turns the light on."}
    )
    memory = memory_process(
        tmp_path,
        KNOWLEDGE_BASES_DIR=str(library),
        CHROMA_HOST="127.0.0.1",
        CHROMA_PORT=str(chroma.port),
    )
    spawn(memory)
    memory.wait_for_ingestion()
    assert not (tmp_path / "chroma").exists()  # nothing went to an embedded store
    query = {"query": "switch on the light", "top_k": 1, "knowledge_bases": ["Body-KB"]}
    [match] = grpcurl_json(memory.address, RAG, query)["matches"]
    assert match["source"] == "kb/Body-KB/lamp.txt"

    steps = [{"role": "user", "content": "light on"}, {"role": "tool", "content": "done"}]
    body = {"session_id": "s-9", "prompt": "light on", "history_sequence": steps}
    playbook_id = httpx.post(f"{memory.url}/memory/playbook", json=body, timeout=30).json()[
        "playbook_id"
    ]
    client = chromadb.HttpClient(
        host="127.0.0.1", port=chroma.port, settings=Settings(anonymized_telemetry=False)
    )
    stored = client.get_collection("Mind-KB").get(ids=[playbook_id], include=["metadatas"])
    assert stored["metadatas"] == [
        {"source_session": "s-9", "original_prompt": "light on", "kind": "playbook"}
    ]

    chroma.kill()
    health = wait_for_health(memory, 503)
    assert "chroma" in health["error"]
    assert list(health["failed"]) == ["chroma"]
    assert_not_ready_for(memory, "chroma")
    assert grpcurl_json(memory.address, HEALTH, {}) == {"status": "NOT_SERVING"}
    failed = grpcurl("-plaintext", "-d", '{"query":"light"}', memory.address, RAG)
    assert "Unavailable" in failed.stderr and "chroma" in failed.stderr
    history = {"session_id": "during-outage", "history": [{"role": "user", "content": "hi"}]}
    assert httpx.post(f"{memory.url}/memory/store", json=history, timeout=30).status_code == 200
    # GetPlanContext: the RAG part fails alone, the history part is still answered.
    both = {"rag": query, "session_id": "during-outage"}
    context = grpcurl_json(memory.address, "modelgateway.ModelGateway/GetPlanContext", both)
    assert context["rag_error"].startswith("dependency unavailable: chroma")
    assert "matches" not in context
    assert [m["content"] for m in context["history"]] == ["hi"]

    spawn(chroma_server_process(tmp_path, chroma.port))
    wait_for_health(memory, 200)
    assert grpcurl_json(memory.address, RAG, query)["matches"][0]["id"] == match["id"]


def test_unusable_sqlite_is_reported_and_rag_still_answers(tmp_path: Path, spawn: Spawner) -> None:
    not_a_database = tmp_path / "history-is-a-directory"
    not_a_database.mkdir()
    memory = memory_process(tmp_path, SESSION_DB_PATH=str(not_a_database))
    memory.ready = [lambda: memory_answers(memory)]
    spawn(memory)
    health = wait_for_health(memory, 503)
    assert list(health["failed"]) == ["sqlite"]
    assert_not_ready_for(memory, "sqlite")
    assert "sqlite" in health["error"]
    assert not grpc_ready(memory.grpc_port)()
    stored = httpx.post(
        f"{memory.url}/memory/store", json={"session_id": "s", "history": []}, timeout=30
    )
    assert stored.status_code == 503
    assert "sqlite" in stored.json()["error"]
    reply = grpcurl_json(memory.address, RAG, {"query": "anything"})
    assert reply == {}


def assert_not_ready_for(memory: MemoryProcess, dependency: str) -> None:
    """/ready refuses (503) and names exactly the dependency that is down."""
    reply = httpx.get(f"{memory.url}/ready", timeout=10)
    assert reply.status_code == 503, reply.text
    assert reply.json()["status"] == "not_ready"
    assert list(reply.json()["failed"]) == [dependency]
    assert dependency in reply.json()["error"]


def memory_answers(memory: MemoryProcess) -> bool:
    try:
        return httpx.get(f"{memory.url}/health", timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False
