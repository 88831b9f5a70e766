"""A run's checkpoint: everything the loop needs to go on after the step it last finished
(the growing prompt, the playbook so far, the turn, the tool call it holds). Saved after
every step so another process, or this one after a restart, continues from there."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.agent_planner.approval import PendingCall
from services.agent_planner.memory_client import Message


@dataclass
class Checkpoint:
    prompt: str
    user_prompt: str
    turn: int
    tool_steps: int
    playbook: list[Message] = field(default_factory=list)
    pending: PendingCall | None = None

    def to_text(self) -> str:
        return json.dumps(
            {
                "prompt": self.prompt,
                "user_prompt": self.user_prompt,
                "turn": self.turn,
                "tool_steps": self.tool_steps,
                "playbook": self.playbook,
                "pending": self.pending.as_json() if self.pending else None,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        data: dict[str, Any] = json.loads(text)
        pending = data.get("pending")
        return cls(
            data["prompt"],
            data["user_prompt"],
            int(data["turn"]),
            int(data["tool_steps"]),
            list(data["playbook"]),
            PendingCall.from_json(pending) if pending else None,
        )


class Checkpointer(Protocol):
    async def save(self, checkpoint: Checkpoint, waiting: bool = False) -> None:
        """Store the run's checkpoint; `waiting` also parks the run for a reviewer."""
        ...


class NoCheckpoints:
    """For a synchronous /plan: it never waits and is not resumed."""

    async def save(self, checkpoint: Checkpoint, waiting: bool = False) -> None:
        return None


NO_CHECKPOINTS: Checkpointer = NoCheckpoints()
