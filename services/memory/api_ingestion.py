"""Documents sent over HTTP (POST /memory/ingest): their keys live in their own space, so
they can never replace or delete chunks that came from knowledge-base files, and the
limits keep one caller from growing the store without bound."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from services.memory.errors import InvalidRequest
from services.memory.schemas import IngestRequest
from services.memory.settings import MemorySettings
from services.memory.sources import SourceDocument

# File keys start with the library directory's name and a '/'; API keys with this prefix.
API_KEY_PREFIX = "api:"


@dataclass(frozen=True)
class IngestLimits:
    max_documents: int
    max_bytes: int
    max_collections_per_namespace: int
    max_namespaces: int

    @classmethod
    def from_settings(cls, settings: MemorySettings) -> IngestLimits:
        return cls(
            settings.MEMORY_INGEST_MAX_DOCUMENTS,
            settings.MEMORY_INGEST_MAX_BYTES,
            settings.MEMORY_MAX_COLLECTIONS_PER_NAMESPACE,
            settings.MEMORY_MAX_NAMESPACES,
        )


def api_documents(body: IngestRequest, limits: IngestLimits) -> list[SourceDocument]:
    """The request's documents under API keys; raises InvalidRequest naming a limit."""
    if len(body.documents) > limits.max_documents:
        raise InvalidRequest(
            f"documents: {len(body.documents)} in one call "
            f"(limit {limits.max_documents}, MEMORY_INGEST_MAX_DOCUMENTS)"
        )
    size = sum(len(doc.text.encode("utf-8", "surrogatepass")) for doc in body.documents)
    if size > limits.max_bytes:
        raise InvalidRequest(
            f"documents: {size} bytes of text in one call "
            f"(limit {limits.max_bytes}, MEMORY_INGEST_MAX_BYTES)"
        )
    documents: dict[str, SourceDocument] = {}
    for index, doc in enumerate(body.documents):
        key = API_KEY_PREFIX + (doc.id or doc.source or _content_key(doc.text))
        if key in documents:
            raise InvalidRequest(f"documents.{index}.id: duplicate document id {key!r}")
        documents[key] = SourceDocument(key, doc.text, doc.source or "chroma", "api")
    return list(documents.values())


def check_room_for(collection: str, existing: list[str], limits: IngestLimits) -> None:
    """Refuse to create `collection` when its namespace, or the number of namespaces,
    is at its limit; collections that exist already are always usable."""
    if collection in existing:
        return
    namespace = namespace_of(collection)
    in_namespace = sum(1 for name in existing if namespace_of(name) == namespace)
    if in_namespace >= limits.max_collections_per_namespace:
        raise InvalidRequest(
            f"knowledge_base: namespace {namespace or '(plain)'!r} already has {in_namespace} "
            f"collections (limit {limits.max_collections_per_namespace}, "
            "MEMORY_MAX_COLLECTIONS_PER_NAMESPACE)"
        )
    namespaces = {namespace_of(name) for name in existing}
    if namespace not in namespaces and len(namespaces) >= limits.max_namespaces:
        raise InvalidRequest(
            f"namespace: {len(namespaces)} namespaces exist "
            f"(limit {limits.max_namespaces}, MEMORY_MAX_NAMESPACES)"
        )


def namespace_of(collection: str) -> str:
    """'' for the plain collections, else the part before the dot."""
    namespace, _, _ = collection.rpartition(".")
    return namespace


def _content_key(text: str) -> str:
    return "doc-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
