"""Concurrent RAG searches share Chroma queries: one query per collection for all waiting
requests, each request still gets exactly what it would have got alone, and a collection
that fails fails only the requests that asked for it. Searches over collections copied in
process are answered at once, without the worker thread."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from services.memory.errors import DependencyUnavailable
from services.memory.knowledge import ChunkRecord, KnowledgeStore, RagMatch, connect
from services.memory.search_batches import Search, SearchBatcher
from services.memory.settings import MemorySettings

DIMENSIONS = 16


def unit(seed: int) -> list[float]:
    vector = np.random.default_rng(seed).normal(size=DIMENSIONS)
    return [float(x) for x in vector / np.linalg.norm(vector)]


@pytest.fixture(params=[True, False], ids=["snapshots", "chroma-queries"])
def store(tmp_path: Path, request: pytest.FixtureRequest) -> KnowledgeStore:
    settings = MemorySettings(CHROMA_PERSIST_DIR=str(tmp_path))
    knowledge = KnowledgeStore(connect(settings), str(tmp_path), snapshots=request.param)
    for offset, name in enumerate(["Body-KB", "Soul-KB"]):
        records = [
            ChunkRecord(f"{name}-{i}", f"text {i}", unit(100 * offset + i), {"source": name})
            for i in range(12)
        ]
        knowledge.upsert_now(name, records)
    return knowledge


def counting_queries(store: KnowledgeStore, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    search_many_now = store.search_many_now

    def counted(embeddings: list[list[float]], *args: Any) -> list[list[RagMatch]]:
        calls.append((len(embeddings), *args))
        return search_many_now(embeddings, *args)

    monkeypatch.setattr(store, "search_many_now", counted)
    return calls


def run_together(batcher: SearchBatcher, searches: list[Search]) -> list[Any]:
    async def together() -> list[Any]:
        return await asyncio.gather(
            *(batcher.search(search) for search in searches), return_exceptions=True
        )

    return asyncio.run(together())


BOTH = [("Body-KB", "Body-KB"), ("Soul-KB", "Soul-KB")]


def test_concurrent_searches_share_one_query_per_collection_and_keep_their_results(
    store: KnowledgeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    searches = [Search(unit(seed), BOTH, 3) for seed in range(1000, 1008)]
    searches.append(Search(unit(2000), [("Soul-KB", "Soul-KB")], 5))
    alone = [
        [m for kb, name in s.targets for m in store.search_now(s.embedding, kb, name, s.top_k)]
        for s in searches
    ]
    calls = counting_queries(store, monkeypatch)
    together = run_together(SearchBatcher(store), searches)
    assert together == alone
    if store.search_copied(unit(1), "Body-KB", "Body-KB", 3) is not None:
        assert calls == []  # both collections copied: nothing went to the thread
        return
    assert sorted(calls) == [
        (1, "Soul-KB", "Soul-KB", 5),
        (8, "Body-KB", "Body-KB", 3),
        (8, "Soul-KB", "Soul-KB", 3),
    ]


def test_a_search_goes_to_the_thread_until_every_collection_it_needs_is_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = MemorySettings(CHROMA_PERSIST_DIR=str(tmp_path))
    store = KnowledgeStore(connect(settings), str(tmp_path), snapshots=True)
    for name in ("Body-KB", "Soul-KB"):
        chunks = [ChunkRecord(f"{name}-{i}", "t", unit(i), {"source": name}) for i in range(5)]
        store.upsert_now(name, chunks)
    calls = counting_queries(store, monkeypatch)
    batcher = SearchBatcher(store)
    first = run_together(batcher, [Search(unit(7), [("Body-KB", "Body-KB")], 2)])
    assert calls == [(1, "Body-KB", "Body-KB", 2)]  # the first search makes the copy
    again = run_together(batcher, [Search(unit(7), [("Body-KB", "Body-KB")], 2)])
    assert again == first and len(calls) == 1
    run_together(batcher, [Search(unit(8), BOTH, 2)])  # Soul-KB not copied yet
    assert [call[1] for call in calls[1:]] == ["Body-KB", "Soul-KB"]
    # A write drops the copy: the next search goes to the thread and copies it again.
    store.upsert_now("Body-KB", [ChunkRecord("new", "t", unit(9), {"source": "s"})])
    [found] = run_together(batcher, [Search(unit(9), [("Body-KB", "Body-KB")], 1)])
    assert [m.id for m in found] == ["new"] and len(calls) == 4


def test_a_failing_collection_fails_only_the_searches_that_asked_for_it(
    store: KnowledgeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    search_many_now = store.search_many_now

    def soul_is_down(embeddings: list[list[float]], kb: str, name: str, top_k: int) -> Any:
        if name == "Soul-KB":
            raise DependencyUnavailable("chroma: Soul-KB unreadable")
        return search_many_now(embeddings, kb, name, top_k)

    monkeypatch.setattr(store, "search_many_now", soul_is_down)
    body_only = Search(unit(1), [("Body-KB", "Body-KB")], 3)
    both = Search(unit(2), BOTH, 3)
    first, second = run_together(SearchBatcher(store), [body_only, both])
    assert [m.knowledge_base for m in first] == ["Body-KB"] * 3
    assert isinstance(second, DependencyUnavailable)


def test_a_missing_collection_yields_no_matches(store: KnowledgeStore) -> None:
    [found] = run_together(SearchBatcher(store), [Search(unit(3), [("Mind-KB", "Mind-KB")], 3)])
    assert found == []
