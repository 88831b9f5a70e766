"""Knowledge-base ingestion: documents are chunked, embedded in batches and upserted with
ids derived from document key + chunk index + chunk hash, so unchanged chunks are never
embedded twice, a changed document replaces its old chunks and a deleted file's go."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from services.kit.logs import get_logger
from services.memory.chunking import chunk_text
from services.memory.embeddings import Embedder
from services.memory.errors import InvalidRequest
from services.memory.knowledge import ChunkRecord, KnowledgeStore, Metadata
from services.memory.metrics import INGESTED_CHUNKS, metric_label
from services.memory.sources import SourceDocument, discover_library

log = get_logger("memory.ingestion")
Progress = Callable[[int], None]


@dataclass(frozen=True)
class PendingChunk:
    id: str
    text: str
    metadata: Metadata


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks_embedded: int = 0
    chunks_removed: int = 0
    collections: list[str] = field(default_factory=list)

    def merge(self, other: IngestReport) -> None:
        for name in ("added", "updated", "unchanged", "removed", "chunks_embedded"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.chunks_removed += other.chunks_removed
        self.collections.extend(other.collections)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CollectionPlan:
    collection: str
    to_embed: list[PendingChunk] = field(default_factory=list)
    to_delete: list[str] = field(default_factory=list)
    report: IngestReport = field(default_factory=IngestReport)


def chunk_id(key: str, index: int, text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return f"{key}#{index}:{digest}"


def document_chunks(document: SourceDocument) -> list[PendingChunk]:
    return [
        PendingChunk(
            id=chunk_id(document.key, index, text),
            text=text,
            metadata={
                "kind": document.kind,
                "doc_key": document.key,
                "source": document.source,
                "chunk_index": index,
            },
        )
        for index, text in enumerate(chunk_text(document.text))
    ]


def plan_collection(
    collection: str,
    documents: list[SourceDocument],
    existing: dict[str, Metadata],
    removable: Callable[[str], bool],
) -> CollectionPlan:
    """Compare what is stored with what should be; removable(key) says whether a stored
    document that is no longer present may be deleted."""
    stored: dict[str, set[str]] = {}
    for stored_id, metadata in existing.items():
        stored.setdefault(str(metadata.get("doc_key", "")), set()).add(stored_id)
    plan = CollectionPlan(collection, report=IngestReport(collections=[collection]))
    for document in documents:
        chunks = document_chunks(document)
        old_ids = stored.pop(document.key, set())
        new_ids = {c.id for c in chunks}
        plan.to_embed.extend(c for c in chunks if c.id not in old_ids)
        plan.to_delete.extend(sorted(old_ids - new_ids))
        status = "unchanged" if old_ids == new_ids else "updated" if old_ids else "added"
        setattr(plan.report, status, getattr(plan.report, status) + 1)
    for key, ids in stored.items():
        if removable(key):
            plan.to_delete.extend(sorted(ids))
            plan.report.removed += 1
    plan.report.chunks_removed = len(plan.to_delete)
    return plan


class Ingestor:
    """Runs ingestion plans: batch embedding on the shared model, upserts off the loop."""

    def __init__(self, embedder: Embedder, knowledge: KnowledgeStore) -> None:
        self._embedder = embedder
        self._knowledge = knowledge

    async def ingest_library(self, root: Path, progress: Progress | None = None) -> IngestReport:
        """Ingest every KB directory under root, and drop chunks of files that are gone."""
        return await self.execute(await self.plan_library(root), progress)

    async def plan_library(self, root: Path) -> list[CollectionPlan]:
        library = await asyncio.to_thread(discover_library, root)
        if not library and not root.is_dir():
            return []  # missing (a typo, a volume not mounted): never a reason to delete
        existing_names = await asyncio.to_thread(self._knowledge.collection_names_now)
        prefix = f"{root.resolve().name}/"
        plans = []
        for name in sorted(set(library) | set(existing_names)):
            existing = await asyncio.to_thread(self._knowledge.metadata_now, name, {"kind": "file"})
            if name in library or existing:
                plans.append(plan_collection(name, library.get(name, []), existing, _under(prefix)))
        return plans

    async def ingest_documents(
        self, collection: str, documents: list[SourceDocument]
    ) -> IngestReport:
        """Add or replace the given documents only; other stored documents are untouched."""
        keys = [d.key for d in documents]
        mine = {"$and": [{"doc_key": {"$in": keys}}, {"kind": "api"}]}
        existing = await asyncio.to_thread(self._knowledge.metadata_now, collection, mine)
        plan = plan_collection(collection, documents, existing, lambda _: False)
        await self._refuse_foreign_ids(plan)
        return await self.execute([plan])

    async def _refuse_foreign_ids(self, plan: CollectionPlan) -> None:
        """A chunk id held by a file's chunk is never overwritten from the API."""
        ids = [chunk.id for chunk in plan.to_embed]
        if not ids:
            return
        held = await asyncio.to_thread(self._knowledge.metadata_now, plan.collection, ids=ids)
        foreign = sorted(i for i, meta in held.items() if meta.get("kind") != "api")
        if foreign:
            raise InvalidRequest(f"documents: chunk id {foreign[0]!r} belongs to a file's chunk")

    async def execute(
        self, plans: list[CollectionPlan], progress: Progress | None = None
    ) -> IngestReport:
        total = IngestReport()
        for plan in plans:
            await self._embed_and_upsert(plan, progress)
            await asyncio.to_thread(self._knowledge.delete_now, plan.collection, plan.to_delete)
            total.merge(plan.report)
            if plan.to_embed or plan.to_delete:
                log.info("collection_ingested", collection=plan.collection, **_counts(plan))
        return total

    async def _embed_and_upsert(self, plan: CollectionPlan, progress: Progress | None) -> None:
        """Embed batch n+1 while batch n is being upserted: Chroma's write and the model
        overlap instead of taking turns. Chunks go longest first, so each batch holds texts
        of about one length and pads little (as the engine orders one large call)."""
        size = self._embedder.batch_size
        pending = sorted(plan.to_embed, key=lambda chunk: len(chunk.text), reverse=True)
        writing: asyncio.Task[None] | None = None
        try:
            for start in range(0, len(pending), size):
                batch = pending[start : start + size]
                vectors = await self._embedder.encode([c.text for c in batch], bulk=True)
                if writing is not None:
                    await writing
                records = [
                    ChunkRecord(c.id, c.text, v, c.metadata)
                    for c, v in zip(batch, vectors, strict=True)
                ]
                writing = asyncio.create_task(self._upsert(plan, records, progress))
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                writing.cancel()

    async def _upsert(
        self, plan: CollectionPlan, records: list[ChunkRecord], progress: Progress | None
    ) -> None:
        await asyncio.to_thread(self._knowledge.upsert_now, plan.collection, records)
        plan.report.chunks_embedded += len(records)
        kind = str(records[0].metadata.get("kind", "file"))
        INGESTED_CHUNKS.labels(metric_label(plan.collection), kind).inc(len(records))
        if progress is not None:
            progress(len(records))


def pending_chunk_count(plans: list[CollectionPlan]) -> int:
    return sum(len(p.to_embed) for p in plans)


def _under(prefix: str) -> Callable[[str], bool]:
    return lambda key: key.startswith(prefix)


def _counts(plan: CollectionPlan) -> dict[str, int]:
    report = plan.report
    return {
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "removed": report.removed,
        "chunks_embedded": report.chunks_embedded,
        "chunks_removed": report.chunks_removed,
    }
