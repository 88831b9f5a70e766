"""Concurrent single-text encodes share forward passes, and each caller still gets the
vector of its own text; query vectors come from a bounded LRU cache that counts hits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest

from services.memory.embeddings import Embedder, QueryCache
from tests.support.embeddings import embedding_config

QUERIES = [
    "How do I reset the agent?",
    "latest python release",
    "the dog needs a walk",
    "motion at the front door at night",
    "summarise the session history",
    "which knowledge base holds playbooks",
    "weather in Lisbon",
    "write a hello world in java",
]


@pytest.fixture(scope="module")
def embedder() -> Iterator[Embedder]:
    loaded = Embedder.load(embedding_config())
    yield loaded
    loaded.close()


def test_concurrent_queries_are_batched_and_keep_their_own_vectors(
    embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    encode_now = embedder.encode_now

    def counting(texts: list[str], bulk: bool = False) -> list[list[float]]:
        assert not bulk  # queries run on one thread
        batches.append(len(texts))
        return encode_now(texts)

    monkeypatch.setattr(embedder, "encode_now", counting)

    async def all_at_once() -> list[list[float]]:
        return await asyncio.gather(*(embedder.encode_one(query) for query in QUERIES))

    together = asyncio.run(all_at_once())
    assert sum(batches) == len(QUERIES)
    assert len(batches) < len(QUERIES), f"no batching: {batches}"

    for query, vector in zip(QUERIES, together, strict=True):
        alone = np.array(encode_now([query])[0])
        assert float(np.dot(alone, np.array(vector))) > 0.9999, query


def test_a_cancelled_waiter_does_not_disturb_the_others(embedder: Embedder) -> None:
    async def scenario() -> list[float]:
        cancelled = asyncio.create_task(embedder.encode_one("never mind"))
        kept = asyncio.create_task(embedder.encode_one("keep this one"))
        await asyncio.sleep(0)
        cancelled.cancel()
        return await kept

    vector = asyncio.run(scenario())
    expected = np.array(embedder.encode_now(["keep this one"])[0])
    assert float(np.dot(expected, np.array(vector))) > 0.9999


def test_the_same_text_waiting_twice_is_encoded_once(
    embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[str] = []
    encode_now = embedder.encode_now

    def recording(texts: list[str], bulk: bool = False) -> list[list[float]]:
        encoded.extend(texts)
        return encode_now(texts)

    monkeypatch.setattr(embedder, "encode_now", recording)

    async def twice() -> list[list[float]]:
        return await asyncio.gather(*(embedder.encode_one("same words") for _ in range(3)))

    first, second, third = asyncio.run(twice())
    assert encoded.count("same words") == 1, encoded
    assert first == second == third


def test_repeated_queries_are_served_from_the_cache(
    embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    encode_now = embedder.encode_now

    def recording(texts: list[str], bulk: bool = False) -> list[list[float]]:
        calls.append(texts)
        return encode_now(texts)

    monkeypatch.setattr(embedder, "encode_now", recording)
    before = embedder.queries.snapshot()

    async def ask() -> list[list[float]]:
        return [await embedder.encode_query("where is the cache") for _ in range(3)]

    vectors = asyncio.run(ask())
    after = embedder.queries.snapshot()
    assert calls == [["where is the cache"]]
    assert vectors[0] == vectors[1] == vectors[2]
    assert (after["hits"] - before["hits"], after["misses"] - before["misses"]) == (2, 1)


def test_the_cache_keeps_the_most_recently_used_up_to_its_size() -> None:
    cache = QueryCache(2)
    cache.put("a", [1.0])
    cache.put("b", [2.0])
    assert cache.get("a") == [1.0]  # a is now the most recent
    cache.put("c", [3.0])
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == ([1.0], [3.0])
    assert cache.snapshot() == {"size": 2, "capacity": 2, "hits": 3, "misses": 1}


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    cache = QueryCache(0)
    cache.put("a", [1.0])
    assert cache.get("a") is None
    assert cache.snapshot()["size"] == 0
