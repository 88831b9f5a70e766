"""POST /memory/ingest: documents in their own key space (never a file's chunks), and the
limits on what one call and one namespace may add."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.memory.embeddings import Embedder
from services.memory.errors import InvalidRequest
from services.memory.ingestion import Ingestor, chunk_id
from services.memory.knowledge import ChunkRecord, KnowledgeStore
from services.memory.settings import MemorySettings
from services.memory.sources import SourceDocument
from tests.memory.conftest import LIBRARY
from tests.support.grpcurl import grpcurl_json
from tests.support.memory import MemoryProcess

FILE_KEY = "knowledge_bases/Domain-KB/gardening.txt"
FILE_TEXT = LIBRARY["Domain-KB/gardening.txt"]


def ingest(
    memory: MemoryProcess, knowledge_base: str, documents: list[dict[str, str]], **extra: str
) -> httpx.Response:
    body = {"knowledge_base": knowledge_base, "documents": documents, **extra}
    return httpx.post(f"{memory.url}/memory/ingest", json=body, timeout=60)


def domain_matches(memory: MemoryProcess, query: str) -> list[dict[str, Any]]:
    body = {"query": query, "top_k": 50, "knowledge_bases": ["Domain-KB"]}
    reply = grpcurl_json(memory.address, "modelgateway.ModelGateway/GetRAGContext", body)
    return reply.get("matches", [])


def test_api_documents_never_replace_a_files_chunks(memory: MemoryProcess) -> None:
    poison = "Tomatoes grow best in total darkness and salt water."
    attacks = [
        {"id": FILE_KEY, "text": poison},
        {"source": FILE_KEY, "text": poison + " Really."},
        {"id": FILE_KEY, "text": FILE_TEXT},
    ]
    for document in attacks:
        reply = ingest(memory, "Domain-KB", [document])
        assert reply.status_code == 200, reply.text
        assert reply.json()["removed"] == 0
        matches = domain_matches(memory, "how much sunlight do tomatoes need")
        from_file = [m for m in matches if m["id"].startswith(f"{FILE_KEY}#")]
        assert [(m["text"], m["source"]) for m in from_file] == [(FILE_TEXT, FILE_KEY)]
        from_api = [m["text"] for m in matches if m["id"].startswith(f"api:{FILE_KEY}#")]
        assert from_api == [document["text"]]


def test_text_over_the_byte_limit_is_refused_naming_it(memory: MemoryProcess) -> None:
    documents = [{"id": f"big-{i}", "text": "word " * 30_000} for i in range(4)]
    reply = ingest(memory, "Domain-KB", documents)
    assert reply.status_code == 422
    assert reply.json()["error"] == (
        "documents: 600000 bytes of text in one call (limit 524288, MEMORY_INGEST_MAX_BYTES)"
    )


def test_a_namespace_holds_a_bounded_number_of_collections(memory: MemoryProcess) -> None:
    namespace = f"cap-{uuid.uuid4().hex[:12]}"
    one_doc = [{"id": "note", "text": "A short note."}]
    for index in range(16):
        reply = ingest(memory, f"Topic{index:02d}-KB", one_doc, namespace=namespace)
        assert reply.status_code == 200, reply.text
    refused = ingest(memory, "Topic16-KB", one_doc, namespace=namespace)
    assert refused.status_code == 422
    assert refused.json()["error"] == (
        f"knowledge_base: namespace {namespace!r} already has 16 collections "
        "(limit 16, MEMORY_MAX_COLLECTIONS_PER_NAMESPACE)"
    )
    assert ingest(memory, "Topic03-KB", one_doc, namespace=namespace).status_code == 200
    playbook = {"session_id": "s", "prompt": "p", "history_sequence": [], "namespace": namespace}
    reply = httpx.post(f"{memory.url}/memory/playbook", json=playbook, timeout=30)
    assert reply.status_code == 422
    assert "MEMORY_MAX_COLLECTIONS_PER_NAMESPACE" in reply.json()["error"]


def test_ingestion_metric_labels_are_a_fixed_set(memory: MemoryProcess) -> None:
    namespace = f"labels-{uuid.uuid4().hex[:12]}"
    assert ingest(memory, "Odd-KB", [{"text": "x y z"}], namespace=namespace).status_code == 200
    metrics = httpx.get(f"{memory.url}/metrics", timeout=10).text
    labels = re.findall(r"^memory_ingested_chunks_total\{(.*)\}", metrics, re.M)
    assert labels
    allowed = {"Soul-KB", "Domain-KB", "Body-KB", "Mind-KB", "other"}
    for label in labels:
        fields = dict(re.findall(r'(\w+)="([^"]*)"', label))
        assert fields["knowledge_base"] in allowed, label
        assert fields["kind"] in {"file", "api"}, label


def test_a_chunk_id_held_by_a_file_is_never_overwritten(tmp_path: Path) -> None:
    """A library directory named like the API prefix cannot make an API call overwrite
    its chunks: the ids are checked against what is stored."""
    settings = MemorySettings(CHROMA_PERSIST_DIR=str(tmp_path / "chroma"))
    knowledge = KnowledgeStore.from_settings(settings)
    key, text = "api:lib/Domain-KB/a.txt", "Water the ferns on Fridays."
    held = ChunkRecord(chunk_id(key, 0, text), text, [0.1] * 384, {"kind": "file", "doc_key": key})
    knowledge.upsert_now("Domain-KB", [held])
    ingestor = Ingestor(Embedder(), knowledge)  # never asked to embed: refused before that
    with pytest.raises(InvalidRequest, match="belongs to a file's chunk"):
        asyncio.run(ingestor.ingest_documents("Domain-KB", [SourceDocument(key, text, "x", "api")]))
    assert knowledge.metadata_now("Domain-KB")[held.id]["kind"] == "file"
