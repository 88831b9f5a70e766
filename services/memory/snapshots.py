"""In-process copies of small collections, searched exactly with numpy.

Chroma's fixed cost per query (0.5-1.5 ms of CPU, most of it waking its worker threads)
is several times the search itself for knowledge bases of a few dozen chunks. A collection
of at most SNAPSHOT_MAX_CHUNKS chunks is read once into a matrix and searched by brute
force. Chroma's HNSW search visits every node of a graph this small (ef_search = 100), so
both give the same top k; the snapshot is dropped whenever this process writes to the
collection, and only the embedded Chroma (whose only writer is this process) is copied."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

# At most Chroma's default ef_search, so its HNSW search is exhaustive too.
SNAPSHOT_MAX_CHUNKS = 100


@dataclass(frozen=True)
class CollectionSnapshot:
    ids: list[str]
    texts: list[str | None]
    metadatas: list[Any]  # as Chroma returns them
    unit_rows: npt.NDArray[np.float32]  # one L2-normalised row per chunk

    @classmethod
    def from_records(cls, found: Any) -> CollectionSnapshot:
        """From a Chroma get(include=["embeddings", "documents", "metadatas"])."""
        ids = [str(i) for i in found["ids"]]
        texts = list(found.get("documents") or [None] * len(ids))
        metadatas = list(found.get("metadatas") or [None] * len(ids))
        if not ids:
            return cls([], [], [], np.zeros((0, 0), dtype=np.float32))
        rows = np.asarray(found["embeddings"], dtype=np.float32).reshape(len(ids), -1)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        unit_rows = (rows / np.where(norms == 0, 1, norms)).astype(np.float32)
        return cls(ids, texts, metadatas, unit_rows)

    def nearest(self, embeddings: list[list[float]], top_k: int) -> list[list[tuple[int, float]]]:
        """Per vector, the top_k (chunk index, cosine distance) pairs, nearest first. One
        product per vector: a batched product may round differently, and a query's
        distances must not depend on the requests it happened to be batched with."""
        count = min(top_k, len(self.ids))
        if count == 0:  # an empty collection
            return [[] for _ in embeddings]
        found = []
        for embedding in embeddings:
            query = np.asarray(embedding, dtype=np.float32)
            norm = float(np.linalg.norm(query)) or 1.0
            distances = 1.0 - self.unit_rows @ (query / norm)
            best = np.argsort(distances, kind="stable")[:count]
            found.append([(int(i), float(distances[i])) for i in best])
        return found


@dataclass
class SnapshotCache:
    """Snapshots by collection name (None: too large to copy), with a write generation per
    name so a copy read while a write ran is never kept."""

    _snapshots: dict[str, CollectionSnapshot | None] = field(default_factory=dict)
    _generations: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, name: str) -> tuple[bool, CollectionSnapshot | None]:
        with self._lock:
            return name in self._snapshots, self._snapshots.get(name)

    def generation(self, name: str) -> int:
        with self._lock:
            return self._generations.get(name, 0)

    def put(self, name: str, generation: int, snapshot: CollectionSnapshot | None) -> None:
        with self._lock:
            if self._generations.get(name, 0) == generation:
                self._snapshots[name] = snapshot

    def changed(self, name: str) -> None:
        with self._lock:
            self._generations[name] = self._generations.get(name, 0) + 1
            self._snapshots.pop(name, None)
