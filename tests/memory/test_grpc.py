"""The gRPC contract, exercised with the real grpcurl and no .proto files on our side."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.grpcurl import grpcurl, grpcurl_json, grpcurl_refused
from tests.support.memory import MemoryProcess

RAG = "modelgateway.ModelGateway/GetRAGContext"


def rag(memory: MemoryProcess, **body: Any) -> list[dict[str, Any]]:
    reply = grpcurl_json(memory.address, RAG, body)
    return reply.get("matches", [])


def test_reflection_lists_the_services(memory: MemoryProcess) -> None:
    listed = grpcurl("-plaintext", memory.address, "list")
    assert listed.returncode == 0, listed.stderr
    services = set(listed.stdout.split())
    assert {"modelgateway.ModelGateway", "grpc.health.v1.Health"} <= services


def test_describe_shows_both_methods_and_the_namespace_field(memory: MemoryProcess) -> None:
    service = grpcurl("-plaintext", memory.address, "describe", "modelgateway.ModelGateway")
    assert "rpc GetRAGContext" in service.stdout
    assert "rpc GetPlan" in service.stdout
    request = grpcurl("-plaintext", memory.address, "describe", "modelgateway.RAGContextRequest")
    assert "string namespace = 4;" in request.stdout


def test_health_is_serving(memory: MemoryProcess) -> None:
    reply = grpcurl_json(memory.address, "grpc.health.v1.Health/Check", {})
    assert reply == {"status": "SERVING"}


def test_rag_finds_the_ingested_document_with_its_source_path(memory: MemoryProcess) -> None:
    matches = rag(memory, query="which tool searches the web", top_k=1, knowledge_bases=["Body-KB"])
    assert len(matches) == 1
    [match] = matches
    assert match["knowledge_base"] == "Body-KB"
    assert match["source"] == "knowledge_bases/Body-KB/tools.md"
    assert "web_search" in match["text"]
    assert match["id"].startswith("knowledge_bases/Body-KB/tools.md#0:")
    assert 0 <= match["distance"] < 1


def test_no_knowledge_bases_means_body_kb(memory: MemoryProcess) -> None:
    matches = rag(memory, query="run some python code", top_k=3)
    assert matches
    assert {m["knowledge_base"] for m in matches} == {"Body-KB"}


@pytest.mark.parametrize("top_k", [0, -5])
def test_top_k_below_one_returns_one_match_per_kb(memory: MemoryProcess, top_k: int) -> None:
    matches = rag(memory, query="assistant", top_k=top_k, knowledge_bases=["Soul-KB", "Domain-KB"])
    assert sorted(m["knowledge_base"] for m in matches) == ["Domain-KB", "Soul-KB"]


def test_each_kb_answers_for_itself(memory: MemoryProcess) -> None:
    kbs = ["Domain-KB", "Soul-KB", "Body-KB"]
    matches = rag(memory, query="tomatoes in the sun", top_k=1, knowledge_bases=kbs)
    assert sorted(m["knowledge_base"] for m in matches) == sorted(kbs)
    # Other tests add API documents to this shared service's KBs, so look a little deeper.
    deeper = rag(memory, query="tomatoes in the sun", top_k=10, knowledge_bases=kbs)
    sources: dict[str, set[str]] = {}
    for match in deeper:
        sources.setdefault(match["knowledge_base"], set()).add(match["source"])
    assert "knowledge_bases/Domain-KB/gardening.txt" in sources["Domain-KB"]
    assert "knowledge_bases/Soul-KB/persona.txt" in sources["Soul-KB"]
    for kb, found in sources.items():
        files = {s for s in found if s.startswith("knowledge_bases/")}
        assert all(s.startswith(f"knowledge_bases/{kb}/") for s in files), (kb, files)


@pytest.mark.parametrize("kb", ["Nothing-KB", "no such kb!", "x", "../Body-KB"])
def test_unknown_or_odd_kb_names_yield_no_matches(memory: MemoryProcess, kb: str) -> None:
    assert rag(memory, query="tools", top_k=3, knowledge_bases=[kb]) == []


@pytest.mark.parametrize("method", ["GetPlan", "StreamPlan"])
def test_the_gateways_calls_are_unimplemented_naming_it(memory: MemoryProcess, method: str) -> None:
    error = grpcurl_refused(memory.address, f"modelgateway.ModelGateway/{method}", {"prompt": "hi"})
    assert "Unimplemented" in error
    assert f"{method} is not served by the memory service" in error
    assert "model gateway" in error


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"query": "   "}, "query"),
        ({"query": "tools", "namespace": "bad namespace!"}, "namespace"),
        ({"query": "tools", "knowledge_bases": [f"K{i}-KB" for i in range(17)]}, "knowledge_bases"),
    ],
)
def test_bad_requests_are_invalid_argument(
    memory: MemoryProcess, body: dict[str, Any], named: str
) -> None:
    error = grpcurl_refused(memory.address, RAG, body)
    assert "InvalidArgument" in error
    assert named in error


def cache_lookups(memory: MemoryProcess, result: str) -> float:
    metrics = httpx.get(f"{memory.url}/metrics", timeout=10).text
    line = f'memory_query_embedding_cache_lookups_total{{result="{result}"}}'
    return sum(float(row.split()[-1]) for row in metrics.splitlines() if row.startswith(line))


def test_a_repeated_query_is_answered_from_the_embedding_cache(memory: MemoryProcess) -> None:
    health = memory.health()["embedding"]
    assert (health["backend"], health["precision"]) == ("onnx", "fp32")
    hits, misses = cache_lookups(memory, "hit"), cache_lookups(memory, "miss")
    query = {"query": "a question asked twice", "top_k": 1, "knowledge_bases": ["Body-KB"]}
    first, second = rag(memory, **query), rag(memory, **query)
    assert first == second
    assert cache_lookups(memory, "miss") == misses + 1
    assert cache_lookups(memory, "hit") == hits + 1
    cache = memory.health()["embedding"]["query_cache"]
    assert cache["hits"] >= 1 and cache["capacity"] == 1024
