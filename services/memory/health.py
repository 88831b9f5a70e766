"""Health and readiness of the memory service.

/health is deep: Chroma must answer a heartbeat and SQLite a real query; it also shows how
far start-up ingestion is. Readiness (/ready and gRPC health) asks the same and, unless
MEMORY_SERVE_DURING_INGESTION is set, that start-up ingestion has finished: until then a
RAG query would silently miss the knowledge not yet embedded."""

from __future__ import annotations

import asyncio
from typing import Any

from services.kit.logs import get_logger
from services.memory.embeddings import Embedder
from services.memory.errors import DependencyUnavailable
from services.memory.knowledge import KnowledgeStore
from services.memory.startup_ingestion import IngestionTracker
from services.memory.store import SessionStore

CHECK_TIMEOUT_SECONDS = 2.5
log = get_logger("memory.health")


class DeepHealth:
    def __init__(
        self,
        store: SessionStore,
        knowledge: KnowledgeStore,
        ingestion: IngestionTracker,
        embedder: Embedder,
        serve_during_ingestion: bool = False,
    ) -> None:
        self._embedder = embedder
        self._store = store
        self._knowledge = knowledge
        self._ingestion = ingestion
        self._serve_during_ingestion = serve_during_ingestion

    async def failures(self) -> dict[str, str]:
        """Failing dependency name -> reason; empty when everything answers."""
        checks = {"chroma": self._knowledge.heartbeat(), self._store.backend: self._store.check()}
        results = await asyncio.gather(
            *(asyncio.wait_for(check, CHECK_TIMEOUT_SECONDS) for check in checks.values()),
            return_exceptions=True,
        )
        failed: dict[str, str] = {}
        for name, result in zip(checks, results, strict=True):
            if isinstance(result, DependencyUnavailable | TimeoutError):
                failed[name] = str(result) or f"{name}: no answer in {CHECK_TIMEOUT_SECONDS}s"
            elif isinstance(result, BaseException):
                raise result
        return failed

    async def http(self) -> tuple[bool, dict[str, Any]]:
        failed = await self.failures()
        extra: dict[str, Any] = {
            "ingestion": self._ingestion.snapshot(),
            "embedding": self._embedder.describe(),
        }
        if failed:
            log.warning("dependency_unavailable", failed=failed)
            names = ", ".join(sorted(failed))
            extra |= {"error": f"dependency unavailable: {names}", "failed": failed}
        return not failed, extra

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """/ready: the /health answer, refused while start-up ingestion is unfinished."""
        ok, extra = await self.http()
        waiting = self._waiting_for_ingestion()
        if ok and waiting:
            extra["error"] = waiting
        return ok and not waiting, extra

    async def ready(self) -> bool:
        """gRPC health: the same as /ready."""
        return not self._waiting_for_ingestion() and not await self.failures()

    def _waiting_for_ingestion(self) -> str:
        return "" if self._serve_during_ingestion else self._ingestion.unfinished_reason()
