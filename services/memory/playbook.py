"""Mind-KB playbooks: a successful run's steps as text, stored under its sha256 so
identical playbooks collapse into one record."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

from services.kit.knowledge_bases import MIND_KB
from services.memory.embeddings import Embedder
from services.memory.knowledge import ChunkRecord, KnowledgeStore, collection_name

ROLE_LABELS = {
    "user": "User prompt",
    "assistant": "Planner/Assistant",
    "tool_result": "Tool returned",
}
ROLE_ALIASES = {"tool": "tool_result"}


@dataclass(frozen=True)
class PlaybookStep:
    role: str
    content: str


def render_playbook(prompt: str, steps: list[PlaybookStep]) -> str:
    lines = [f"Playbook for: {prompt}", "---", "Steps:"]
    kept = [step for step in steps if step.content]
    for number, step in enumerate(kept, start=1):
        role = ROLE_ALIASES.get(step.role, step.role)
        lines.append(f"{number}) {ROLE_LABELS.get(role, role)}: {step.content}")
    return "\n".join(lines)


def playbook_id(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class PlaybookWriter:
    def __init__(self, embedder: Embedder, knowledge: KnowledgeStore) -> None:
        self._embedder = embedder
        self._knowledge = knowledge

    async def store(
        self, session_id: str, prompt: str, steps: list[PlaybookStep], namespace: str = ""
    ) -> str:
        """Store the playbook in Mind-KB and return its id. A playbook already stored (same
        text, so same id) is left as it is: no embedding, no write; it keeps the session that
        first produced it."""
        text = render_playbook(prompt, steps)
        name = collection_name(namespace, MIND_KB)
        record_id = playbook_id(text)
        stored = await asyncio.to_thread(self._knowledge.metadata_now, name, None, [record_id])
        if record_id in stored:
            return record_id
        record = ChunkRecord(
            id=record_id,
            text=text,
            embedding=await self._embedder.encode_one(text),
            metadata={"source_session": session_id, "original_prompt": prompt, "kind": "playbook"},
        )
        await asyncio.to_thread(self._knowledge.upsert_now, name, [record])
        return record.id
