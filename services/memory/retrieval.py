"""RAG retrieval: one query embedding, searched against every requested knowledge base
(concurrent requests share both the embedding pass and the Chroma queries)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from services.kit.knowledge_bases import DEFAULT_QUERY_KNOWLEDGE_BASES, valid_name
from services.memory.embeddings import Embedder
from services.memory.errors import InvalidRequest
from services.memory.knowledge import (
    KnowledgeStore,
    RagMatch,
    check_namespace,
    collection_name,
)
from services.memory.metrics import RAG_LATENCY
from services.memory.search_batches import Search, SearchBatcher

MAX_TOP_K = 100
MAX_KNOWLEDGE_BASES = 16
MAX_QUERY_CHARS = 20_000


@dataclass(frozen=True)
class RagQuery:
    query: str
    top_k: int = 3
    knowledge_bases: tuple[str, ...] = ()
    namespace: str = ""


class Retriever:
    def __init__(self, embedder: Embedder, knowledge: KnowledgeStore) -> None:
        self._embedder = embedder
        self._searches = SearchBatcher(knowledge)

    async def context(self, request: RagQuery) -> list[RagMatch]:
        """Top matches per KB; unknown or not-yet-created KBs simply yield nothing."""
        started = time.perf_counter()
        query, namespace, kbs = validate(request)
        top_k = min(max(request.top_k, 1), MAX_TOP_K)
        targets = [(kb, collection_name(namespace, kb)) for kb in kbs if valid_name(kb)]
        embedding = await self._embedder.encode_query(query)
        matches = await self._searches.search(Search(embedding, targets, top_k))
        RAG_LATENCY.labels(str(len(kbs))).observe(time.perf_counter() - started)
        return matches

    def close(self) -> None:
        self._searches.close()


def validate(request: RagQuery) -> tuple[str, str, list[str]]:
    query = request.query.strip()
    if not query:
        raise InvalidRequest("query: must not be empty")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidRequest(f"query: longer than {MAX_QUERY_CHARS} characters")
    namespace = check_namespace(request.namespace)
    kbs = list(dict.fromkeys(kb.strip() for kb in request.knowledge_bases if kb.strip()))
    if len(kbs) > MAX_KNOWLEDGE_BASES:
        raise InvalidRequest(f"knowledge_bases: at most {MAX_KNOWLEDGE_BASES} per request")
    return query, namespace, kbs or list(DEFAULT_QUERY_KNOWLEDGE_BASES)
