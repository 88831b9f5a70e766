"""The start-up ingestion pass, run in the background so the service answers at once; the
service reports ready only once it has finished (see health.py).

If Chroma is not reachable yet (a Chroma server that starts after us), the pass waits and
retries with backoff instead of giving up; /health shows where it stands and how far it is."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.kit.logs import get_logger
from services.memory.errors import DependencyUnavailable
from services.memory.ingestion import Ingestor, IngestReport, pending_chunk_count

log = get_logger("memory.ingestion")
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0


@dataclass
class IngestionTracker:
    """pending -> running (-> waiting -> running ...) -> done | failed, or disabled.

    While running, `embedded` of `total` chunks are in (total is known once the pass has
    compared the files with what Chroma holds)."""

    state: str = "pending"
    report: IngestReport | None = None
    error: str = ""
    embedded: int = 0
    total: int | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "disabled")

    def snapshot(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"state": self.state}
        if self.total is not None:
            shown["progress"] = {"embedded": self.embedded, "total": self.total}
        if self.report is not None:
            shown["report"] = self.report.as_dict()
        if self.error:
            shown["error"] = self.error
        return shown

    def unfinished_reason(self) -> str:
        """Why start-up ingestion does not count as finished; empty when it does."""
        if self.finished:
            return ""
        if self.state == "failed":
            return f"start-up ingestion failed: {self.error}"
        if self.state == "waiting":
            return f"start-up ingestion waiting for a dependency: {self.error}"
        if self.total is None:
            return "start-up ingestion is reading the knowledge bases"
        return f"start-up ingestion running: {self.embedded}/{self.total} chunks embedded"


async def ingest_at_startup(
    ingestor: Ingestor, root: Path, tracker: IngestionTracker, retry: float = FIRST_RETRY_SECONDS
) -> None:
    log.info("startup_ingestion_started", path=str(root))
    while True:
        tracker.state = "running"
        try:
            tracker.report = await ingest_once(ingestor, root, tracker)
        except DependencyUnavailable as exc:
            tracker.state, tracker.error = "waiting", str(exc)
            log.warning("startup_ingestion_waiting", error=tracker.error, retry_in_s=retry)
            await asyncio.sleep(retry)
            retry = min(retry * 2, MAX_RETRY_SECONDS)
            continue
        except Exception as exc:  # recorded in /health and logged; the service keeps serving
            tracker.state, tracker.error = "failed", str(exc) or type(exc).__name__
            log.error("startup_ingestion_failed", error=tracker.error)
            return
        tracker.state, tracker.error = "done", ""
        log.info("startup_ingestion_done", **tracker.report.as_dict())
        return


async def ingest_once(ingestor: Ingestor, root: Path, tracker: IngestionTracker) -> IngestReport:
    tracker.embedded, tracker.total = 0, None
    plans = await ingestor.plan_library(root)
    tracker.total = pending_chunk_count(plans)

    def report_progress(count: int) -> None:
        tracker.embedded += count
        log.info("startup_ingestion_progress", embedded=tracker.embedded, total=tracker.total)

    return await ingestor.execute(plans, report_progress)
