"""The memory service's parts, built once from settings and shared by HTTP, gRPC and the
ingest command."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from services.kit.logs import get_logger
from services.memory.embedding_engines import EmbeddingConfig
from services.memory.embeddings import Embedder
from services.memory.errors import DependencyUnavailable
from services.memory.health import DeepHealth
from services.memory.ingestion import Ingestor
from services.memory.knowledge import KnowledgeStore
from services.memory.playbook import PlaybookWriter
from services.memory.retrieval import Retriever
from services.memory.settings import MemorySettings
from services.memory.startup_ingestion import IngestionTracker
from services.memory.store import SessionStore

log = get_logger("memory")


@dataclass
class MemoryComponents:
    settings: MemorySettings
    store: SessionStore
    knowledge: KnowledgeStore
    embedder: Embedder
    tracker: IngestionTracker = field(default_factory=IngestionTracker)

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.embedder, self.knowledge)

    @cached_property
    def playbooks(self) -> PlaybookWriter:
        return PlaybookWriter(self.embedder, self.knowledge)

    @cached_property
    def ingestor(self) -> Ingestor:
        return Ingestor(self.embedder, self.knowledge)

    @cached_property
    def health(self) -> DeepHealth:
        serve_early = self.settings.MEMORY_SERVE_DURING_INGESTION
        return DeepHealth(self.store, self.knowledge, self.tracker, self.embedder, serve_early)

    async def close(self) -> None:
        await self.store.close()
        self.retriever.close()
        self.embedder.close()


async def build_components(settings: MemorySettings) -> MemoryComponents:
    """Open the history database and load the embedding model (Chroma connects lazily, so
    a Chroma that is down shows in health instead of stopping the service)."""
    store = SessionStore(settings.database(Path(settings.SESSION_DB_PATH)))
    try:
        await store.open()
    except DependencyUnavailable as exc:  # shown by /health; the store retries on each use
        log.error("session_store_unavailable", error=str(exc))
    embedder = await asyncio.to_thread(Embedder.load, EmbeddingConfig.from_settings(settings))
    return MemoryComponents(settings, store, KnowledgeStore.from_settings(settings), embedder)
