"""Knowledge-base searches of concurrent requests, answered together: each collection is
queried once with the vectors of every request waiting for it (Chroma answers 8 query
vectors for about 2.5 times the CPU of one), on one worker thread so Chroma's own threads
are not also contended by several callers. A search whose collections all have an
in-process copy (snapshots.py) takes microseconds and runs at once, on the event loop:
handing it to the thread would cost more CPU than the search."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from services.memory.batching import Coalescer
from services.memory.knowledge import KnowledgeStore, RagMatch

Vector = list[float]
# (knowledge base, collection name) pairs, in the order their matches are returned.
Targets = list[tuple[str, str]]


@dataclass(frozen=True)
class Search:
    embedding: Vector
    targets: Targets
    top_k: int


class SearchBatcher:
    """Searches that arrive while one batch runs go together in the next."""

    def __init__(self, knowledge: KnowledgeStore) -> None:
        self._knowledge = knowledge
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="search")
        self._batches: Coalescer[Search, list[RagMatch]] = Coalescer(
            self._search_together, "search-batches"
        )

    async def search(self, search: Search) -> list[RagMatch]:
        """The matches of every target in turn (each target's best first)."""
        copied = search_copies(self._knowledge, search)
        if copied is not None:
            return copied
        return await self._batches.submit(search)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _search_together(self, searches: list[Search]) -> list[list[RagMatch] | Exception]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, search_together_now, self._knowledge, searches
        )


def search_copies(knowledge: KnowledgeStore, search: Search) -> list[RagMatch] | None:
    """The search answered from in-process copies only; None if a target has none."""
    matches: list[RagMatch] = []
    for knowledge_base, name in search.targets:
        found = knowledge.search_copied(search.embedding, knowledge_base, name, search.top_k)
        if found is None:
            return None
        matches.extend(found)
    return matches


def search_together_now(
    knowledge: KnowledgeStore, searches: list[Search]
) -> list[list[RagMatch] | Exception]:
    """Each search's matches, or the error of a collection it needed (a failing collection
    fails only the searches that asked for it). One Chroma query per (collection, top_k)."""
    groups: dict[tuple[str, str, int], list[int]] = {}
    for index, search in enumerate(searches):
        for knowledge_base, name in search.targets:
            groups.setdefault((knowledge_base, name, search.top_k), []).append(index)
    found: dict[tuple[int, str], list[RagMatch] | Exception] = {}
    for (knowledge_base, name, top_k), indexes in groups.items():
        vectors = [searches[index].embedding for index in indexes]
        try:
            per_vector: list[list[RagMatch] | Exception] = list(
                knowledge.search_many_now(vectors, knowledge_base, name, top_k)
            )
        except Exception as exc:  # handed to the searches that asked for this collection
            per_vector = [exc] * len(indexes)
        for index, matches in zip(indexes, per_vector, strict=True):
            found[(index, name)] = matches
    return [
        _joined([found[(index, name)] for _, name in search.targets])
        for index, search in enumerate(searches)
    ]


def _joined(parts: list[list[RagMatch] | Exception]) -> list[RagMatch] | Exception:
    matches: list[RagMatch] = []
    for part in parts:
        if isinstance(part, Exception):
            return part
        matches.extend(part)
    return matches
