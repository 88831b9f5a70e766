"""Concurrent single-text encodes share forward passes, and each caller still gets the
vector of its own text."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest

from services.memory.embeddings import Embedder
from services.memory.settings import DEFAULT_EMBEDDING_MODEL

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
    loaded = Embedder.load(DEFAULT_EMBEDDING_MODEL)
    yield loaded
    loaded.close()


def test_concurrent_queries_are_batched_and_keep_their_own_vectors(
    embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    encode_now = embedder.encode_now

    def counting(texts: list[str]) -> list[list[float]]:
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
