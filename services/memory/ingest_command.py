"""The `ingest` command: one pass over a knowledge-base directory with a progress bar."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from services.kit.errors import ConfigError
from services.memory.embedding_engines import EmbeddingConfig
from services.memory.embeddings import Embedder
from services.memory.ingestion import Ingestor, IngestReport, pending_chunk_count
from services.memory.knowledge import KnowledgeStore
from services.memory.settings import MemorySettings


async def run_ingest_command(settings: MemorySettings, directory: str | None) -> IngestReport:
    root = Path(directory or settings.KNOWLEDGE_BASES_DIR)
    if not root.is_dir():
        raise ConfigError(f"knowledge-base directory not found: {root}")
    # The model loads only if something needs embedding: an unchanged library costs no load.
    embedder = Embedder(EmbeddingConfig.from_settings(settings))
    try:
        ingestor = Ingestor(embedder, KnowledgeStore.from_settings(settings))
        plans = await ingestor.plan_library(root)
        with tqdm(total=pending_chunk_count(plans), desc="embedding", unit="chunk") as bar:
            return await ingestor.execute(plans, bar.update)
    finally:
        embedder.close()
