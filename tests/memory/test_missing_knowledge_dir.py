"""A KNOWLEDGE_BASES_DIR that does not exist (a typo, a volume not mounted yet): memory
starts, says so in its log, reports an empty ingestion, and keeps what an earlier start
ingested from that directory instead of deleting it."""

from __future__ import annotations

from pathlib import Path

from tests.memory.conftest import write_library
from tests.support.grpcurl import grpcurl_json
from tests.support.logs import logged
from tests.support.memory import MemoryProcess, memory_env, memory_process
from tests.support.processes import assert_refused_at_start_up, python_service
from tests.support.spawning import Spawner

RAG = "modelgateway.ModelGateway/GetRAGContext"
QUERY = {"query": "switch on the light", "top_k": 1, "knowledge_bases": ["Body-KB"]}


def lamp_sources(memory: MemoryProcess) -> list[str]:
    return [m["source"] for m in grpcurl_json(memory.address, RAG, QUERY).get("matches", [])]


def test_a_missing_directory_is_reported_and_ingested_knowledge_is_kept(
    tmp_path: Path, spawn: Spawner
) -> None:
    library = write_library(tmp_path / "kb", {"Body-KB/lamp.txt": "The lamp API turns it on."})
    first = memory_process(tmp_path, KNOWLEDGE_BASES_DIR=str(library))
    spawn(first)
    assert first.wait_for_ingestion()["report"]["added"] == 1
    assert lamp_sources(first) == ["kb/Body-KB/lamp.txt"]
    first.stop()

    library.rename(tmp_path / "kb-unmounted")
    second = memory_process(tmp_path, KNOWLEDGE_BASES_DIR=str(library))
    second.log_path = tmp_path / "memory-second.log"
    spawn(second)
    ingestion = second.wait_for_ingestion()
    assert ingestion["state"] == "done"
    assert (ingestion["report"]["added"], ingestion["report"]["removed"]) == (0, 0)
    assert [e["path"] for e in logged(second, "knowledge_bases_dir_missing")] == [str(library)]
    assert lamp_sources(second) == ["kb/Body-KB/lamp.txt"]
    assert second.health()["status"] == "ok"


def test_the_ingest_command_refuses_a_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-library"
    command = python_service(
        "memory", memory_env(tmp_path), tmp_path, ready=[], args=["ingest", str(missing)]
    )
    assert_refused_at_start_up(command, f"knowledge-base directory not found: {missing}")
