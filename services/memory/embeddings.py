"""The embedding engine, opened once per process; encoding runs on one worker thread so the
event loop never waits on the CPU. Single texts (queries, playbooks) that arrive while the
worker is busy are encoded together in the next batch: one forward pass for many
concurrent requests instead of one each. Query vectors are kept in a bounded LRU cache."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from services.memory.batching import Coalescer
from services.memory.embedding_engines import EmbeddingConfig, EmbeddingEngine, open_engine
from services.memory.metrics import EMBEDDING_LATENCY, QUERY_CACHE_LOOKUPS

Vector = list[float]


class QueryCache:
    """Exact-text LRU of query vectors; size 0 keeps nothing."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._vectors: OrderedDict[str, Vector] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, text: str) -> Vector | None:
        vector = self._vectors.get(text)
        if vector is None:
            self.misses += 1
            QUERY_CACHE_LOOKUPS.labels("miss").inc()
            return None
        self._vectors.move_to_end(text)
        self.hits += 1
        QUERY_CACHE_LOOKUPS.labels("hit").inc()
        return vector

    def put(self, text: str, vector: Vector) -> None:
        if self.size <= 0:
            return
        self._vectors[text] = vector
        self._vectors.move_to_end(text)
        while len(self._vectors) > self.size:
            self._vectors.popitem(last=False)

    def snapshot(self) -> dict[str, int]:
        return {
            "size": len(self._vectors),
            "capacity": self.size,
            "hits": self.hits,
            "misses": self.misses,
        }


class Embedder:
    """Turns texts into vectors with one shared engine, opened on first use or by `load`."""

    def __init__(self, config: EmbeddingConfig | None = None) -> None:
        self.config = config or EmbeddingConfig()
        self.batch_size = self.config.batch_size
        self.queries = QueryCache(self.config.query_cache_size)
        self._engine: EmbeddingEngine | None = None
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")
        self._singles: Coalescer[str, Vector] = Coalescer(
            self._encode_together, "embed-batches", limit=self.batch_size
        )

    @classmethod
    def load(cls, config: EmbeddingConfig | None = None) -> Embedder:
        """An embedder whose engine is already open, so the first request does not wait."""
        embedder = cls(config)
        _ = embedder.engine
        return embedder

    @property
    def engine(self) -> EmbeddingEngine:
        with self._lock:
            if self._engine is None:
                self._engine = open_engine(self.config)
            return self._engine

    def describe(self) -> dict[str, Any]:
        """What /health shows: the engine in use (if opened) and the query cache."""
        engine = self._engine
        opened = {"backend": engine.backend, "precision": engine.precision} if engine else {}
        return {
            "requested_backend": self.config.backend,
            **opened,
            "threads": self.config.thread_count,
            "query_cache": self.queries.snapshot(),
        }

    def encode_now(self, texts: list[str], bulk: bool = False) -> list[Vector]:
        """Blocking encode, for worker threads and the command line; `bulk` for ingestion
        (every configured thread), otherwise one thread."""
        started = time.perf_counter()
        vectors = self.engine.embed(texts, self.batch_size, bulk)
        EMBEDDING_LATENCY.observe(time.perf_counter() - started)
        rows: list[Vector] = vectors.tolist()
        return rows

    async def encode(self, texts: list[str], bulk: bool = False) -> list[Vector]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.encode_now, texts, bulk)

    async def encode_query(self, text: str) -> Vector:
        """encode_one through the query cache (exact text)."""
        cached = self.queries.get(text)
        if cached is not None:
            return cached
        vector = await self.encode_one(text)
        self.queries.put(text, vector)
        return vector

    async def encode_one(self, text: str) -> Vector:
        return await self._singles.submit(text)

    async def _encode_together(self, texts: list[str]) -> list[Vector | Exception]:
        # The same text asked for by several waiters is encoded once.
        unique = list(dict.fromkeys(texts))
        vectors = dict(zip(unique, await self.encode(unique), strict=True))
        return [vectors[text] for text in texts]

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
