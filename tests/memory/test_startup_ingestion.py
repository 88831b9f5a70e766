"""Start-up ingestion waits for a Chroma server that comes up after the service."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.memory.embedding_engines import EmbeddingConfig
from services.memory.embeddings import Embedder
from services.memory.ingestion import Ingestor
from services.memory.knowledge import KnowledgeStore
from services.memory.settings import MemorySettings
from services.memory.startup_ingestion import IngestionTracker, ingest_at_startup
from tests.support.memory import chroma_server_process
from tests.support.processes import free_port


async def wait_for_state(tracker: IngestionTracker, state: str, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while tracker.state != state:
            await asyncio.sleep(0.05)


async def test_ingestion_retries_until_the_chroma_server_answers(tmp_path: Path) -> None:
    port = free_port()
    settings = MemorySettings(CHROMA_HOST="127.0.0.1", CHROMA_PORT=port)
    embedder = Embedder(EmbeddingConfig.from_settings(settings))  # nothing to embed: never loaded
    ingestor = Ingestor(embedder, KnowledgeStore.from_settings(settings))
    tracker = IngestionTracker()
    library = tmp_path / "kb"
    library.mkdir()
    task = asyncio.create_task(ingest_at_startup(ingestor, library, tracker, retry=0.2))
    chroma = chroma_server_process(tmp_path, port)
    try:
        await wait_for_state(tracker, "waiting")
        assert "chroma" in tracker.error
        await asyncio.to_thread(chroma.start)
        await asyncio.wait_for(task, 60)
        assert tracker.state == "done"
        assert tracker.error == ""
    finally:
        task.cancel()
        chroma.stop()
        embedder.close()
