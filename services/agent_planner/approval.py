"""Which tool calls wait for a reviewer, and the state of the one call a run may hold: asked
for, decided (approved or rejected) or running. The server's AGENT_TOOL_APPROVAL is the
floor; a request may add tools to it, never take any away."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from services.kit.tool_catalogue import TOOLS_BY_NAME

ALL_TOOLS = "*"
# Calls that may simply run again when a restart interrupted them: they change nothing.
IDEMPOTENT_TOOLS = frozenset({"web_search", "weather_tool"})
REJECTED_OUTPUT = "Tool call rejected by the reviewer: {reason}"
INTERRUPTED_OUTPUT = (
    "Tool call interrupted: the planner stopped while it ran; result unknown. "
    "It was not run again because it may have side effects."
)


class InvalidApprovalPolicy(ValueError):
    """An approval value that is neither none, all, nor a list of tool names."""


@dataclass(frozen=True)
class ApprovalPolicy:
    tools: frozenset[str] = frozenset()  # contains ALL_TOOLS when every call needs approval

    @classmethod
    def parse(cls, value: str) -> ApprovalPolicy:
        """The setting's text: none, all, or a comma list of tool names."""
        text = value.strip().lower()
        if text in ("", "none"):
            return cls()
        if text == "all":
            return cls(frozenset({ALL_TOOLS}))
        return cls.of(name.strip() for name in text.split(",") if name.strip())

    @classmethod
    def of(cls, names: Iterable[str]) -> ApprovalPolicy:
        return cls(frozenset(names))

    @classmethod
    def from_request(cls, value: Any) -> ApprovalPolicy:
        """A request's `approval`: "all", "none", or a list of tool names."""
        if value is None:
            return cls()
        if isinstance(value, str) and value.strip().lower() in ("all", "none"):
            return cls.parse(value)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            unknown = sorted({v.strip() for v in value} - set(TOOLS_BY_NAME))
            if unknown:
                known = ", ".join(sorted(TOOLS_BY_NAME))
                raise InvalidApprovalPolicy(f"approval: unknown tools {unknown} (known: {known})")
            return cls.of(v.strip() for v in value)
        raise InvalidApprovalPolicy('approval must be "all", "none" or a list of tool names')

    def requires(self, tool: str) -> bool:
        return ALL_TOOLS in self.tools or tool in self.tools

    def union(self, other: ApprovalPolicy) -> ApprovalPolicy:
        return ApprovalPolicy(self.tools | other.tools)

    def as_list(self) -> list[str]:
        return sorted(self.tools)

    def __bool__(self) -> bool:
        return bool(self.tools)


class CallState:
    AWAITING = "awaiting"  # waits for a reviewer
    APPROVED = "approved"  # may run (approved, or no approval needed)
    REJECTED = "rejected"
    RUNNING = "running"  # sent to the sandbox; a restart does not know how it ended


@dataclass
class PendingCall:
    """The tool call a run is busy with, checkpointed at every change of state."""

    call_id: str
    name: str
    args: dict[str, Any]
    plan: str
    turn: int
    state: str
    reason: str | None = None
    original_args: dict[str, Any] | None = field(default=None)  # before a reviewer's edit

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def request(self) -> dict[str, Any]:
        """What a reviewer is shown: the tool.approval_required event's data."""
        return {"call_id": self.call_id, "tool": self.name, "args": self.args, "turn": self.turn}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PendingCall:
        return cls(**data)
