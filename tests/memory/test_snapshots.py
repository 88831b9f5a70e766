"""Small collections are searched in process: the same top k, in the same order, as
Chroma's own query; a write through the store is seen by the next search; a collection
larger than SNAPSHOT_MAX_CHUNKS is still queried in Chroma."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from chromadb.api.models.Collection import Collection

from services.memory.knowledge import ChunkRecord, KnowledgeStore, connect
from services.memory.settings import MemorySettings
from services.memory.snapshots import SNAPSHOT_MAX_CHUNKS

DIMENSIONS = 32


def vectors(count: int, seed: int) -> list[list[float]]:
    rows = np.random.default_rng(seed).normal(size=(count, DIMENSIONS))
    return [[float(x) for x in row / np.linalg.norm(row)] for row in rows]


def records(count: int, seed: int, prefix: str = "c") -> list[ChunkRecord]:
    return [
        ChunkRecord(f"{prefix}{i}", f"text {prefix}{i}", vector, {"source": f"doc-{i % 3}"})
        for i, vector in enumerate(vectors(count, seed))
    ]


def stores(path: Path) -> tuple[KnowledgeStore, KnowledgeStore]:
    settings = MemorySettings(CHROMA_PERSIST_DIR=str(path))
    copied = KnowledgeStore(connect(settings), str(path), snapshots=True)
    queried = KnowledgeStore(connect(settings), str(path), snapshots=False)
    return copied, queried


def counting_chroma_queries(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    query = Collection.query

    def counted(self: Collection, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(kwargs.get("query_embeddings") or []))
        return query(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "query", counted)
    return calls


def test_a_snapshot_gives_chromas_top_k(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copied, queried = stores(tmp_path)
    copied.upsert_now("Body-KB", records(60, seed=1))
    queries = vectors(25, seed=2)
    expected = queried.search_many_now(queries, "Body-KB", "Body-KB", 5)
    calls = counting_chroma_queries(monkeypatch)
    found = copied.search_many_now(queries, "Body-KB", "Body-KB", 5)
    assert calls == []  # answered in process
    for mine, chroma in zip(found, expected, strict=True):
        assert [(m.id, m.text, m.source) for m in mine] == [
            (m.id, m.text, m.source) for m in chroma
        ]
        assert [m.distance for m in mine] == pytest.approx([m.distance for m in chroma], abs=1e-6)


def test_writes_through_the_store_are_seen_by_the_next_search(tmp_path: Path) -> None:
    store, _ = stores(tmp_path)
    store.upsert_now("Body-KB", records(10, seed=3))
    target = vectors(1, seed=4)[0]
    assert store.search_now(target, "Body-KB", "Body-KB", 1)[0].id != "exact"
    store.upsert_now("Body-KB", [ChunkRecord("exact", "the answer", target, {"source": "s"})])
    [best] = store.search_now(target, "Body-KB", "Body-KB", 1)
    assert (best.id, best.text) == ("exact", "the answer")
    assert best.distance == pytest.approx(0.0, abs=1e-6)
    store.delete_now("Body-KB", ["exact"])
    assert store.search_now(target, "Body-KB", "Body-KB", 1)[0].id != "exact"
    store.delete_now("Body-KB", [f"c{i}" for i in range(10)])
    assert store.search_now(target, "Body-KB", "Body-KB", 1) == []  # empty, not an error


def test_a_large_collection_is_queried_in_chroma(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copied, queried = stores(tmp_path)
    copied.upsert_now("Domain-KB", records(SNAPSHOT_MAX_CHUNKS + 1, seed=5))
    queries = vectors(3, seed=6)
    calls = counting_chroma_queries(monkeypatch)
    found = copied.search_many_now(queries, "Domain-KB", "Domain-KB", 4)
    assert calls == [3]
    assert found == queried.search_many_now(queries, "Domain-KB", "Domain-KB", 4)


def test_a_copy_read_while_a_write_ran_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = stores(tmp_path)
    store.upsert_now("Body-KB", records(10, seed=7))
    target = vectors(1, seed=8)[0]
    get = Collection.get

    def write_after_reading(self: Collection, *args: Any, **kwargs: Any) -> Any:
        found = get(self, *args, **kwargs)  # the copy read before the write below
        if "embeddings" in kwargs.get("include", []):
            monkeypatch.setattr(Collection, "get", get)
            exact = ChunkRecord("exact", "the answer", target, {"source": "s"})
            store.upsert_now("Body-KB", [exact])
        return found

    monkeypatch.setattr(Collection, "get", write_after_reading)
    assert store.search_now(target, "Body-KB", "Body-KB", 1)[0].id != "exact"  # stale copy
    [best] = store.search_now(target, "Body-KB", "Body-KB", 1)
    assert best.id == "exact"
