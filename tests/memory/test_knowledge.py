"""Searching collections that do not exist yet: the lookup is not repeated on every query,
a collection this process creates is searchable at once, and one made elsewhere is seen
after the recheck interval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.memory import knowledge
from services.memory.knowledge import ChunkRecord, KnowledgeStore
from services.memory.settings import MemorySettings

VECTOR = [1.0] + [0.0] * 383


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("services.memory.knowledge.time.monotonic", fake.monotonic)
    return fake


def counting_lookups(store: KnowledgeStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    client: Any = store.client_now()
    looked_up: list[str] = []
    get_collection = client.get_collection

    def counted(name: str, **kwargs: Any) -> Any:
        looked_up.append(name)
        return get_collection(name, **kwargs)

    monkeypatch.setattr(client, "get_collection", counted)
    return looked_up


def test_a_missing_collection_is_looked_up_once_per_interval(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = KnowledgeStore.from_settings(MemorySettings(CHROMA_PERSIST_DIR=str(tmp_path)))
    looked_up = counting_lookups(store, monkeypatch)
    for _ in range(3):
        assert store.search_now(VECTOR, "Mind-KB", "Mind-KB", 3) == []
    assert looked_up == ["Mind-KB"]

    clock.now += knowledge.MISSING_RECHECK_SECONDS + 0.1
    assert store.search_now(VECTOR, "Mind-KB", "Mind-KB", 3) == []
    assert looked_up == ["Mind-KB", "Mind-KB"]


def test_a_collection_created_here_is_found_at_once(tmp_path: Path, clock: Clock) -> None:
    store = KnowledgeStore.from_settings(MemorySettings(CHROMA_PERSIST_DIR=str(tmp_path)))
    assert store.search_now(VECTOR, "Mind-KB", "Mind-KB", 3) == []
    store.upsert_now("Mind-KB", [ChunkRecord("p1", "a playbook", VECTOR, {"source": "s"})])
    [match] = store.search_now(VECTOR, "Mind-KB", "Mind-KB", 3)
    assert (match.id, match.text) == ("p1", "a playbook")


def test_a_collection_created_elsewhere_is_seen_after_the_interval(
    tmp_path: Path, clock: Clock
) -> None:
    settings = MemorySettings(CHROMA_PERSIST_DIR=str(tmp_path))
    reader, writer = KnowledgeStore.from_settings(settings), KnowledgeStore.from_settings(settings)
    assert reader.search_now(VECTOR, "Mind-KB", "Mind-KB", 3) == []
    writer.upsert_now("Mind-KB", [ChunkRecord("p1", "a playbook", VECTOR, {"source": "s"})])
    assert reader.search_now(VECTOR, "Mind-KB", "Mind-KB", 3) == []
    clock.now += knowledge.MISSING_RECHECK_SECONDS + 0.1
    assert [m.id for m in reader.search_now(VECTOR, "Mind-KB", "Mind-KB", 3)] == ["p1"]
