"""Ingestion is idempotent: reruns embed nothing unchanged, a changed file replaces its
chunks, a deleted file's chunks go. Exercised through the `ingest` command, the start-up
pass and POST /memory/ingest."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from services.memory.ingestion import plan_collection
from services.memory.sources import SourceDocument, discover_library
from tests.memory.conftest import write_library
from tests.support.grpcurl import grpcurl_json
from tests.support.memory import MemoryProcess, memory_env, memory_process
from tests.support.processes import ROOT
from tests.support.spawning import Spawner

LONG_GUIDE = "\n\n".join(
    f"Section {i}: the rover checks its battery, wheels and camera before moving {i} metres."
    for i in range(40)
)


def ingest_command(workdir: Path, library: Path) -> subprocess.CompletedProcess[str]:
    """`python -m services.memory ingest <library>` with its stores inside workdir."""
    return subprocess.run(
        [sys.executable, "-m", "services.memory", "ingest", str(library)],
        env=memory_env(workdir),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def run_ingest(workdir: Path, library: Path) -> tuple[dict[str, Any], str]:
    result = ingest_command(workdir, library)
    assert result.returncode == 0, result.stderr + result.stdout
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return report, result.stderr


def rag_sources(memory: MemoryProcess, query: str, kb: str) -> list[dict[str, Any]]:
    body = {"query": query, "top_k": 50, "knowledge_bases": [kb]}
    reply = grpcurl_json(memory.address, "modelgateway.ModelGateway/GetRAGContext", body)
    return reply.get("matches", [])


def test_command_and_restart_embed_only_what_changed(tmp_path: Path, spawn: Spawner) -> None:
    library = write_library(
        tmp_path / "kb",
        {
            "Body-KB/rover.md": LONG_GUIDE,
            "Body-KB/arm.txt": "The robotic arm lifts at most two kilograms.",
            "Soul-KB/voice.txt": "The rover speaks briefly and politely.",
            "Soul-KB/.draft.txt": "hidden files are not part of the library",
        },
    )
    (library / "Body-KB/blob.bin").write_bytes(b"\xff\xfe\x00 not text")
    first, progress = run_ingest(tmp_path, library)
    assert first["added"] == 3  # the hidden and the binary file are skipped
    assert first["chunks_embedded"] > 3  # the long guide became several chunks
    assert "embedding" in progress and "chunk" in progress  # the tqdm bar
    rerun, _ = run_ingest(tmp_path, library)
    assert (rerun["unchanged"], rerun["chunks_embedded"], rerun["chunks_removed"]) == (3, 0, 0)

    (library / "Body-KB/arm.txt").write_text("The robotic arm now lifts five kilograms.")
    (library / "Soul-KB/voice.txt").unlink()
    changed, _ = run_ingest(tmp_path, library)
    assert (changed["updated"], changed["removed"], changed["unchanged"]) == (1, 1, 1)
    assert (changed["chunks_embedded"], changed["chunks_removed"]) == (1, 2)

    service = memory_process(tmp_path, KNOWLEDGE_BASES_DIR=str(library))
    spawn(service)
    at_start = service.wait_for_ingestion()["report"]
    assert (at_start["unchanged"], at_start["chunks_embedded"]) == (2, 0)
    arm = [m for m in rag_sources(service, "robotic arm", "Body-KB") if "arm" in m["source"]]
    assert [m["text"] for m in arm] == ["The robotic arm now lifts five kilograms."]
    assert arm[0]["source"] == "kb/Body-KB/arm.txt"
    assert rag_sources(service, "speaks politely", "Soul-KB") == []


def test_ingest_command_refuses_a_missing_directory(tmp_path: Path) -> None:
    result = ingest_command(tmp_path, tmp_path / "absent")
    assert result.returncode == 2
    assert "absent" in result.stderr


def test_http_ingest_counts_added_unchanged_updated(memory: MemoryProcess) -> None:
    doc_id = f"faq-{uuid.uuid4()}"

    def ingest(text: str) -> dict[str, Any]:
        body = {"knowledge_base": "Domain-KB", "documents": [{"id": doc_id, "text": text}]}
        reply = httpx.post(f"{memory.url}/memory/ingest", json=body, timeout=60)
        assert reply.status_code == 200, reply.text
        return reply.json()

    assert ingest("Parcels ship on Tuesdays.")["added"] == 1
    assert ingest("Parcels ship on Tuesdays.")["unchanged"] == 1
    updated = ingest("Parcels ship on Thursdays.")
    assert (updated["updated"], updated["chunks_embedded"], updated["chunks_removed"]) == (1, 1, 1)
    matches = rag_sources(memory, "when do parcels ship", "Domain-KB")
    texts = [m["text"] for m in matches if m["id"].startswith(f"api:{doc_id}")]
    assert texts == ["Parcels ship on Thursdays."]
    assert {m["source"] for m in matches if m["id"].startswith(f"api:{doc_id}")} == {"chroma"}


def test_plan_replaces_changed_chunks_and_keeps_foreign_ones() -> None:
    old = plan_collection("Body-KB", [SourceDocument("kb/a", "alpha", "kb/a", "file")], {}, bool)
    stored = {c.id: c.metadata for c in old.to_embed}
    stored["elsewhere/z#0:abc"] = {"doc_key": "elsewhere/z", "kind": "file"}
    changed = [SourceDocument("kb/a", "beta", "kb/a", "file")]
    plan = plan_collection("Body-KB", changed, stored, lambda key: key.startswith("kb/"))
    assert [c.text for c in plan.to_embed] == ["beta"]
    assert plan.to_delete == [old.to_embed[0].id]
    assert plan.report.updated == 1


def test_the_shipped_library_fills_the_plain_and_persona_collections() -> None:
    library = discover_library(ROOT / "knowledge_bases")
    expected = {
        f"{namespace}{kb}"
        for namespace in ("", "pet_dog.", "research_assistant.", "home_security.")
        for kb in ("Soul-KB", "Domain-KB", "Body-KB")
    }
    assert set(library) == expected
    assert all(documents for documents in library.values())
    sources = {d.source for documents in library.values() for d in documents}
    assert "knowledge_bases/Body-KB/tools.md" in sources
    assert not any(s.endswith("README.md") for s in sources)
