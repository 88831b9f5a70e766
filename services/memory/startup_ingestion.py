"""The start-up ingestion pass, run in the background so the service answers at once.

If Chroma is not reachable yet (a Chroma server that starts after us), the pass waits and
retries with backoff instead of giving up; /health shows where it stands."""

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
    """pending -> running (-> waiting -> running ...) -> done | failed, or disabled."""

    state: str = "pending"
    report: IngestReport | None = None
    error: str = ""

    def snapshot(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"state": self.state}
        if self.report is not None:
            shown["report"] = self.report.as_dict()
        if self.error:
            shown["error"] = self.error
        return shown


async def ingest_at_startup(
    ingestor: Ingestor, root: Path, tracker: IngestionTracker, retry: float = FIRST_RETRY_SECONDS
) -> None:
    log.info("startup_ingestion_started", path=str(root))
    while True:
        tracker.state = "running"
        try:
            tracker.report = await ingest_once(ingestor, root)
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


async def ingest_once(ingestor: Ingestor, root: Path) -> IngestReport:
    plans = await ingestor.plan_library(root)
    total = pending_chunk_count(plans)
    done = 0

    def report_progress(count: int) -> None:
        nonlocal done
        done += count
        log.info("startup_ingestion_progress", embedded=done, total=total)

    return await ingestor.execute(plans, report_progress)
