"""Knowledge bases as Chroma collections: embedded (CHROMA_PERSIST_DIR) or a Chroma server
(CHROMA_HOST). Vectors are always computed by us and passed in; Chroma never embeds."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import chromadb
import httpx
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError, NotFoundError

from services.kit.knowledge_bases import NAMESPACE_RULE, valid_name
from services.memory.errors import DependencyUnavailable, InvalidRequest
from services.memory.settings import MemorySettings
from services.memory.snapshots import SNAPSHOT_MAX_CHUNKS, CollectionSnapshot, SnapshotCache

Metadata = dict[str, Any]
# A collection nobody has filled yet (Mind-KB before the first playbook) is looked up again
# at most this often, not on every query; collections this process creates show at once.
MISSING_RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class RagMatch:
    id: str
    text: str
    distance: float
    knowledge_base: str
    source: str


@dataclass(frozen=True)
class ChunkRecord:
    id: str
    text: str
    embedding: list[float]
    metadata: Metadata


def check_namespace(namespace: str) -> str:
    """'' (the plain collections) or a valid name; anything else is refused."""
    namespace = namespace.strip()
    if namespace and not valid_name(namespace):
        raise InvalidRequest(f"namespace: {NAMESPACE_RULE}")
    return namespace


def collection_name(namespace: str, knowledge_base: str) -> str:
    return f"{namespace}.{knowledge_base}" if namespace else knowledge_base


def connect(settings: MemorySettings) -> Callable[[], ClientAPI]:
    """A factory for the configured Chroma client (called lazily, retried on failure)."""
    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_server_mode:
        return lambda: chromadb.HttpClient(
            host=settings.CHROMA_HOST.strip(), port=settings.CHROMA_PORT, settings=chroma_settings
        )
    return lambda: chromadb.PersistentClient(
        path=settings.CHROMA_PERSIST_DIR, settings=chroma_settings
    )


@contextmanager
def chroma_errors() -> Iterator[None]:
    """Failures to reach or use Chroma become DependencyUnavailable naming Chroma."""
    try:
        yield
    except NotFoundError:
        raise
    except (ChromaError, httpx.HTTPError, OSError, ValueError, RuntimeError) as exc:
        raise DependencyUnavailable(f"chroma: {exc or type(exc).__name__}") from exc


class KnowledgeStore:
    """Thin, thread-safe access to the collections; blocking methods end in `_now`."""

    def __init__(
        self, connect_client: Callable[[], ClientAPI], location: str, snapshots: bool = False
    ) -> None:
        self.location = location
        self._connect = connect_client
        self._client: ClientAPI | None = None
        self._collections: dict[str, Collection] = {}
        self._missing_until: dict[str, float] = {}
        self._lock = threading.Lock()
        # Small collections searched in process (see snapshots.py); None marks a large one.
        self._snapshots: SnapshotCache | None = SnapshotCache() if snapshots else None

    @classmethod
    def from_settings(cls, settings: MemorySettings) -> KnowledgeStore:
        location = (
            f"http://{settings.CHROMA_HOST.strip()}:{settings.CHROMA_PORT}"
            if settings.chroma_server_mode
            else settings.CHROMA_PERSIST_DIR
        )
        # Only the embedded Chroma is copied: a Chroma server has other writers.
        return cls(connect(settings), location, snapshots=not settings.chroma_server_mode)

    def client_now(self) -> ClientAPI:
        with self._lock, chroma_errors():
            if self._client is None:
                self._client = self._connect()
            return self._client

    def collection_now(self, name: str, create: bool) -> Collection | None:
        cached = self._collections.get(name)
        if cached is not None:
            return cached
        if not create and time.monotonic() < self._missing_until.get(name, 0.0):
            return None
        client = self.client_now()
        with chroma_errors():
            try:
                if create:
                    found = client.get_or_create_collection(
                        name, embedding_function=None, metadata={"hnsw:space": "cosine"}
                    )
                else:
                    found = client.get_collection(name, embedding_function=None)
            except NotFoundError:
                self._missing_until[name] = time.monotonic() + MISSING_RECHECK_SECONDS
                return None
        self._missing_until.pop(name, None)
        self._collections[name] = found
        return found

    def forget_now(self, name: str) -> None:
        self._collections.pop(name, None)
        if self._snapshots is not None:
            self._snapshots.changed(name)

    def heartbeat_now(self) -> None:
        client = self.client_now()
        with chroma_errors():
            client.heartbeat()

    def collection_names_now(self) -> list[str]:
        client = self.client_now()
        with chroma_errors():
            return [c.name for c in client.list_collections()]

    def search_now(
        self, embedding: list[float], knowledge_base: str, name: str, top_k: int
    ) -> list[RagMatch]:
        return self.search_many_now([embedding], knowledge_base, name, top_k)[0]

    def search_many_now(
        self, embeddings: list[list[float]], knowledge_base: str, name: str, top_k: int
    ) -> list[list[RagMatch]]:
        """The top_k matches of each vector, in one Chroma query for all of them."""
        collection = self.collection_now(name, create=False)
        if collection is None:
            return [[] for _ in embeddings]
        snapshot = self._snapshot_now(name, collection)
        if snapshot is not None:
            return _snapshot_matches(snapshot, embeddings, top_k, knowledge_base)
        vectors: list[Sequence[float] | Sequence[int]] = list(embeddings)
        with chroma_errors():
            try:
                found = collection.query(
                    query_embeddings=vectors,
                    n_results=top_k,
                    include=["documents", "metadatas", "distances"],
                )
            except NotFoundError:
                self.forget_now(name)
                return [[] for _ in embeddings]
        return [list(_matches(found, row, knowledge_base)) for row in range(len(embeddings))]

    def search_copied(
        self, embedding: list[float], knowledge_base: str, name: str, top_k: int
    ) -> list[RagMatch] | None:
        """The top_k matches from the in-process copy of the collection, without blocking
        (microseconds); None when there is no copy to search yet (or the collection is too
        large to copy), so the caller must use search_many_now."""
        if self._snapshots is None or name not in self._collections:
            return None
        _, snapshot = self._snapshots.get(name)
        if snapshot is None:
            return None
        return _snapshot_matches(snapshot, [embedding], top_k, knowledge_base)[0]

    async def heartbeat(self) -> None:
        await asyncio.to_thread(self.heartbeat_now)

    def upsert_now(self, name: str, records: list[ChunkRecord]) -> None:
        if not records:
            return
        collection = self.collection_now(name, create=True)
        assert collection is not None
        with chroma_errors(), self._changing(name):
            collection.upsert(
                ids=[r.id for r in records],
                documents=[r.text for r in records],
                embeddings=[r.embedding for r in records],  # type: ignore[arg-type]
                metadatas=[r.metadata for r in records],
            )

    def delete_now(self, name: str, ids: list[str]) -> None:
        collection = self.collection_now(name, create=False)
        if collection is None or not ids:
            return
        with chroma_errors(), self._changing(name):
            collection.delete(ids=ids)

    def _snapshot_now(self, name: str, collection: Collection) -> CollectionSnapshot | None:
        """The in-process copy of a small collection (made on first use), else None."""
        if self._snapshots is None:
            return None
        known, snapshot = self._snapshots.get(name)
        if known:
            return snapshot
        generation = self._snapshots.generation(name)
        with chroma_errors():
            found = collection.get(
                limit=SNAPSHOT_MAX_CHUNKS + 1, include=["embeddings", "documents", "metadatas"]
            )
        if len(found["ids"]) <= SNAPSHOT_MAX_CHUNKS:
            snapshot = CollectionSnapshot.from_records(found)
        self._snapshots.put(name, generation, snapshot)
        return snapshot

    @contextmanager
    def _changing(self, name: str) -> Iterator[None]:
        """Drop the collection's snapshot once a write ends (or fails part way); the bump of
        its generation also stops a search that copied it meanwhile from keeping its copy."""
        try:
            yield
        finally:
            if self._snapshots is not None:
                self._snapshots.changed(name)

    def metadata_now(
        self, name: str, where: dict[str, Any] | None = None, ids: list[str] | None = None
    ) -> dict[str, Metadata]:
        """Ids and metadata of the stored chunks (optionally filtered); {} if no collection."""
        collection = self.collection_now(name, create=False)
        if collection is None:
            return {}
        with chroma_errors():
            found = collection.get(ids=ids, where=where, include=["metadatas"])
        metadatas = found.get("metadatas") or [{} for _ in found["ids"]]
        return {i: dict(m or {}) for i, m in zip(found["ids"], metadatas, strict=True)}


def _matches(found: Any, row: int, knowledge_base: str) -> Iterator[RagMatch]:
    """The matches of the row-th query vector of a Chroma query result."""
    ids = _column(found, "ids", row)
    documents = _column(found, "documents", row) or [""] * len(ids)
    metadatas = _column(found, "metadatas", row) or [{}] * len(ids)
    distances = _column(found, "distances", row) or [0.0] * len(ids)
    for chunk_id, text, metadata, distance in zip(
        ids, documents, metadatas, distances, strict=True
    ):
        yield _match(chunk_id, text, metadata, distance, knowledge_base)


def _snapshot_matches(
    snapshot: CollectionSnapshot, embeddings: list[list[float]], top_k: int, knowledge_base: str
) -> list[list[RagMatch]]:
    return [
        [
            _match(
                snapshot.ids[i], snapshot.texts[i], snapshot.metadatas[i], distance, knowledge_base
            )
            for i, distance in best
        ]
        for best in snapshot.nearest(embeddings, top_k)
    ]


def _match(
    chunk_id: Any, text: str | None, metadata: Metadata | None, distance: float, knowledge_base: str
) -> RagMatch:
    """One match, from a Chroma query row or an in-process snapshot alike."""
    return RagMatch(
        id=str(chunk_id),
        text=text or "",
        distance=float(distance),
        knowledge_base=knowledge_base,
        source=str((metadata or {}).get("source") or "chroma"),
    )


def _column(found: Any, field: str, row: int) -> list[Any]:
    rows = found.get(field) or []
    return list(rows[row] or []) if row < len(rows) else []
