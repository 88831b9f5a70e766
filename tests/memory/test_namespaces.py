"""Namespaces select their own collections and never see each other's documents."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support.grpcurl import grpcurl_json
from tests.support.memory import MemoryProcess


def rag(memory: MemoryProcess, **body: Any) -> list[dict[str, Any]]:
    reply = grpcurl_json(memory.address, "modelgateway.ModelGateway/GetRAGContext", body)
    return reply.get("matches", [])


def sources(matches: list[dict[str, Any]]) -> set[str]:
    return {m["source"] for m in matches}


def test_persona_namespaces_from_the_library(memory: MemoryProcess) -> None:
    query = {"query": "who am I?", "top_k": 10, "knowledge_bases": ["Soul-KB"]}
    assert sources(rag(memory, **query, namespace="pet_dog")) == {
        "knowledge_bases/pet_dog/Soul-KB/barky.txt"
    }
    assert sources(rag(memory, **query, namespace="home_security")) == {
        "knowledge_bases/home_security/Soul-KB/controller.txt"
    }
    assert sources(rag(memory, **query)) == {"knowledge_bases/Soul-KB/persona.txt"}
    assert rag(memory, **query, namespace="research_desk") == []


def test_documents_ingested_into_one_namespace_are_invisible_to_another(
    memory: MemoryProcess,
) -> None:
    text = f"The secret launch code is {uuid.uuid4()}."
    body = {
        "knowledge_base": "Domain-KB",
        "namespace": "alpha-team",
        "documents": [{"id": "launch", "text": text, "source": "notes/launch.txt"}],
    }
    reply = httpx.post(f"{memory.url}/memory/ingest", json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    query = {"query": "secret launch code", "top_k": 20, "knowledge_bases": ["Domain-KB"]}
    inside = rag(memory, **query, namespace="alpha-team")
    assert [m["text"] for m in inside] == [text]
    assert inside[0]["source"] == "notes/launch.txt"
    assert text not in [m["text"] for m in rag(memory, **query, namespace="beta-team")]
    assert text not in [m["text"] for m in rag(memory, **query)]
