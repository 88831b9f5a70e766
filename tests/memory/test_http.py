"""HTTP edges: deep /health, /metrics histograms, and bad input that never corrupts data."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support.grpcurl import grpcurl_json
from tests.support.memory import MemoryProcess


def post(memory: MemoryProcess, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{memory.url}{path}", timeout=30, **kwargs)


def test_health_is_deep_and_reports_ingestion(memory: MemoryProcess) -> None:
    reply = httpx.get(f"{memory.url}/health", timeout=10)
    assert reply.status_code == 200
    body = reply.json()
    assert body["service"] == "memory"
    assert body["status"] == "ok"
    assert body["ingestion"]["state"] == "done"


def test_metrics_expose_request_and_rag_latency_histograms(memory: MemoryProcess) -> None:
    body = {"query": "tools", "knowledge_bases": ["Body-KB", "Soul-KB"]}
    grpcurl_json(memory.address, "modelgateway.ModelGateway/GetRAGContext", body)
    text = httpx.get(f"{memory.url}/metrics", timeout=10).text
    assert 'memory_rag_query_duration_seconds_bucket{kb_count="2"' in text
    assert "memory_embedding_duration_seconds_count" in text
    assert 'http_request_duration_seconds_bucket{le="0.005",method="GET",path="/health"}' in text
    assert "grpc_server_duration_seconds_bucket" in text


ONE_DOC = [{"text": "t"}]
DUPLICATES = [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]
WRONG_INPUTS = [
    ("/memory/store", {"session_id": 7, "history": []}, "session_id"),
    ("/memory/store", {"session_id": "s", "history": "hello"}, "history"),
    ("/memory/store", {"session_id": "s", "history": [{"role": "user", "content": 3}]}, "content"),
    ("/memory/store", {"session_id": "s", "history": [{"content": "x"}]}, "history.0.role"),
    ("/memory/store", {"history": []}, "session_id"),
    ("/memory/store", {"session_id": "", "history": []}, "session_id"),
    ("/memory/playbook", {"session_id": "s", "history_sequence": []}, "prompt"),
    ("/memory/playbook", {"session_id": "s", "prompt": 1, "history_sequence": []}, "prompt"),
    ("/memory/ingest", {"knowledge_base": "Body-KB", "documents": []}, "documents"),
    ("/memory/ingest", {"knowledge_base": "../etc", "documents": ONE_DOC}, "knowledge_base"),
    ("/memory/ingest", {"knowledge_base": "B-KB", "documents": [{"text": 5}]}, "documents.0.text"),
    ("/memory/ingest", {"knowledge_base": "B-KB", "documents": DUPLICATES}, "documents.1.id"),
    (
        "/memory/ingest",
        {"knowledge_base": "B-KB", "documents": ONE_DOC, "namespace": "a b"},
        "namespace",
    ),
]


@pytest.mark.parametrize(("path", "body", "named"), WRONG_INPUTS)
def test_wrong_input_is_422_naming_the_field(
    memory: MemoryProcess, path: str, body: dict[str, Any], named: str
) -> None:
    reply = post(memory, path, json=body)
    assert reply.status_code == 422, reply.text
    assert named in reply.json()["error"]


def test_bad_query_parameters_are_422(memory: MemoryProcess) -> None:
    for limit in ("0", "-1", "many"):
        reply = httpx.get(f"{memory.url}/memory/latest", params={"limit": limit}, timeout=10)
        assert reply.status_code == 422
        assert "limit" in reply.json()["error"]


def test_body_that_is_not_json_is_422(memory: MemoryProcess) -> None:
    reply = post(
        memory, "/memory/store", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert reply.status_code == 422
    assert "JSON decode error" in reply.json()["error"], reply.text
    assert [d["type"] for d in reply.json()["detail"]] == ["json_invalid"]


def test_oversized_body_is_413_and_nothing_is_stored(memory: MemoryProcess) -> None:
    session = f"big-{uuid.uuid4()}"
    history = [{"role": "user", "content": "x" * (1024 * 1024)}]
    reply = post(memory, "/memory/store", json={"session_id": session, "history": history})
    assert reply.status_code == 413
    assert "too large" in reply.json()["error"]
    latest = httpx.get(f"{memory.url}/memory/latest", params={"session_id": session}, timeout=10)
    assert latest.json()["messages"] == []


def test_rejected_requests_leave_stored_history_intact(memory: MemoryProcess) -> None:
    session = f"keep-{uuid.uuid4()}"
    good = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    assert (
        post(memory, "/memory/store", json={"session_id": session, "history": good}).status_code
        == 200
    )
    half_bad = [{"role": "user", "content": "c"}, {"role": "user", "content": None}]
    assert (
        post(memory, "/memory/store", json={"session_id": session, "history": half_bad}).status_code
        == 422
    )
    messages = httpx.get(f"{memory.url}/memory/latest", params={"session_id": session}, timeout=10)
    assert [m["content"] for m in messages.json()["messages"]] == ["a", "b"]
    assert httpx.get(f"{memory.url}/health", timeout=10).status_code == 200


def test_the_api_description_documents_every_body_and_every_reference_resolves(
    memory: MemoryProcess,
) -> None:
    document = httpx.get(f"{memory.url}/openapi.json", timeout=10).json()
    store_body = document["paths"]["/memory/store"]["post"]["requestBody"]
    schema = store_body["content"]["application/json"]["schema"]
    assert schema["required"] == ["session_id"]
    assert schema["properties"]["history"]["items"]["required"] == ["role", "content"]

    def references(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [ref for value in node.values() for ref in references(value)]
        if isinstance(node, list):
            return [ref for item in node for ref in references(item)]
        return []

    for ref in references(document):
        target: Any = document
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict) and part in target, f"{ref} does not resolve"
            target = target[part]
