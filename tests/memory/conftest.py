"""A memory service shared by the memory tests, over a small knowledge-base library."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.memory import MemoryProcess, memory_process

LIBRARY = {
    "Body-KB/tools.md": (
        "The web_search tool takes a query string and returns titles, links and snippets.\n\n"
        "The execute_code tool runs a short Python program in an isolated sandbox."
    ),
    "Soul-KB/persona.txt": "The assistant is calm and precise, and it never invents facts.",
    "Domain-KB/gardening.txt": "Tomatoes need six hours of direct sunlight and deep watering.",
    "pet_dog/Soul-KB/barky.txt": "Barky is a cheerful golden retriever who loves to fetch balls.",
    "home_security/Soul-KB/controller.txt": (
        "The security controller never disables an alarm without biometric confirmation."
    ),
}


def write_library(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def memory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MemoryProcess]:
    """One running memory service with LIBRARY ingested at start-up."""
    workdir = tmp_path_factory.mktemp("memory")
    library = write_library(workdir / "knowledge_bases", LIBRARY)
    proc = memory_process(workdir, KNOWLEDGE_BASES_DIR=str(library))
    proc.start(timeout=120)
    proc.wait_for_ingestion()
    yield proc
    proc.stop()
