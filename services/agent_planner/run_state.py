"""What one agent loop run carries from step to step, and what it needs to take them."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc

from services.agent_planner.approval import ApprovalPolicy, PendingCall
from services.agent_planner.audit import AuditLog
from services.agent_planner.checkpoint import NO_CHECKPOINTS, Checkpoint, Checkpointer
from services.agent_planner.events import NULL_SINK, EventSink
from services.agent_planner.gateway_client import GatewayClient
from services.agent_planner.knowledge_choice import NO_CHOICE, KnowledgeChoice
from services.agent_planner.memory_client import MemoryClient, Message
from services.agent_planner.notifications import NotificationPublisher
from services.agent_planner.sandbox_client import SandboxClient
from services.agent_planner.validation import Resource


@dataclass
class LoopDependencies:
    memory: MemoryClient
    gateway: GatewayClient
    sandbox: SandboxClient
    audit: AuditLog
    notifications: NotificationPublisher
    # The clients' gRPC channels by service (gateway, memory, sandbox): the console's health
    # checks go over these too, so they open no connection of their own.
    channels: dict[str, grpc.aio.Channel] = field(default_factory=dict)


@dataclass
class Run:
    """One request's state: `prompt` grows with each tool step; `user_prompt` is what the
    user asked, the text the session history keeps; every step is reported to `sink` and
    checkpointed to `checkpoints`; `pending` is the tool call being decided or run."""

    trace_id: str | None
    session_id: str
    resources: tuple[Resource, ...]
    prompt: str
    user_prompt: str
    sink: EventSink = NULL_SINK
    playbook: list[Message] = field(default_factory=list)
    tool_steps: int = 0
    turn: int = 0
    approval: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    checkpoints: Checkpointer = NO_CHECKPOINTS
    pending: PendingCall | None = None
    knowledge: KnowledgeChoice = NO_CHOICE  # the namespace and KBs its context comes from

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(
            self.prompt, self.user_prompt, self.turn, self.tool_steps, self.playbook, self.pending
        )

    def restore(self, checkpoint: Checkpoint) -> None:
        self.prompt, self.user_prompt = checkpoint.prompt, checkpoint.user_prompt
        self.turn, self.tool_steps = checkpoint.turn, checkpoint.tool_steps
        self.playbook, self.pending = checkpoint.playbook, checkpoint.pending


@dataclass(frozen=True)
class LoopOutcome:
    """A loop that stopped: a final answer ("succeeded"), the max-turns message, or a call
    waiting for a reviewer ("waiting_approval", result empty)."""

    status: str
    result: str
    turns: int
