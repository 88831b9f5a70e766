"""AgentLoop: history -> RAG -> planner input -> GetPlan -> tool call or final answer,
for up to max_turns, with audit rows, notifications, session deltas and playbooks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from services.agent_planner.audit import AuditLog
from services.agent_planner.context import ContextGatherer
from services.agent_planner.errors import AgentLoopError, DependencyError
from services.agent_planner.events import (
    CONTEXT_RETRIEVED,
    NULL_SINK,
    PLAN_RECEIVED,
    TOOL_FINISHED,
    TOOL_STARTED,
    EventSink,
    elapsed_ms,
    tool_status,
)
from services.agent_planner.gateway_client import GatewayClient
from services.agent_planner.limits import LoopLimits
from services.agent_planner.memory_client import MemoryClient, Message
from services.agent_planner.metrics import LOOP_DURATION, PLAN_TOTAL, tracer
from services.agent_planner.notifications import NotificationPublisher
from services.agent_planner.plan_stream import fetch_plan
from services.agent_planner.planner_input import (
    build_followup_prompt,
    build_planner_input,
    parse_tool_call,
)
from services.agent_planner.sandbox_client import SandboxClient
from services.agent_planner.validation import Resource
from services.contracts import modelgateway_pb2 as pb
from services.kit.logs import get_logger
from services.kit.tool_catalogue import ToolCall
from services.kit.trace import current_trace_id

MAX_TURNS_MESSAGE = "Max turns reached; unable to complete request."
log = get_logger("agent_loop")


@dataclass
class LoopDependencies:
    memory: MemoryClient
    gateway: GatewayClient
    sandbox: SandboxClient
    audit: AuditLog
    notifications: NotificationPublisher


@dataclass
class Run:
    """One request's state: `prompt` grows with each tool step; `user_prompt` is what the
    user asked, the text the session history keeps; every step is reported to `sink`."""

    trace_id: str | None
    session_id: str
    resources: tuple[Resource, ...]
    prompt: str
    user_prompt: str
    sink: EventSink = NULL_SINK
    playbook: list[Message] = field(default_factory=list)
    tool_steps: int = 0
    turn: int = 0


@dataclass(frozen=True)
class LoopOutcome:
    """A finished loop: a final answer ("succeeded") or the max-turns message."""

    status: str
    result: str
    turns: int


class AgentLoop:
    def __init__(self, deps: LoopDependencies, limits: LoopLimits) -> None:
        self.deps = deps
        self.limits = limits
        self.context = ContextGatherer(deps.memory, limits)

    async def run(self, prompt: str, session_id: str, resources: Sequence[Resource]) -> str:
        """The final plan JSON text or the max-turns message; AgentLoopError on failure."""
        run = Run(current_trace_id(), session_id, tuple(resources), prompt, prompt)
        outcome = await self.execute(run)
        return outcome.result

    async def execute(self, run: Run) -> LoopOutcome:
        """Run the loop to its end, reporting each step to run.sink."""
        started = time.perf_counter()
        label = "error"
        try:
            outcome = await self._run(run)
            label = "success"
            return outcome
        except asyncio.CancelledError:
            label = "cancelled"
            raise
        finally:
            PLAN_TOTAL.labels(label).inc()
            LOOP_DURATION.observe(time.perf_counter() - started)

    async def _run(self, run: Run) -> LoopOutcome:
        with tracer.start_as_current_span("AgentLoopExecution") as span:
            span.set_attribute("session_id", run.session_id)
            span.set_attribute("resource_count", len(run.resources))
            await self._start(run)
            for turn in range(1, self.limits.max_turns + 1):
                run.turn = turn
                span.set_attribute("turn", turn)
                plan = await self._plan(run, turn)
                tool_call = parse_tool_call(plan)
                if tool_call is None:
                    return LoopOutcome("succeeded", await self._finish(run, plan), turn)
                await self._use_tool(run, plan, tool_call)
            return LoopOutcome("max_turns", await self._give_up(run), run.turn)

    async def _start(self, run: Run) -> None:
        await self._audit(
            run,
            "PLAN_START",
            prompt=run.prompt,
            resources=[r.as_json() for r in run.resources],
            max_turns=self.limits.max_turns,
            top_k=self.limits.top_k,
            kbs=list(self.limits.knowledge_bases),
        )
        self.deps.notifications.publish_status(run.trace_id, run.session_id, "STARTED")
        run.playbook.append({"role": "user", "content": run.prompt})

    async def _plan(self, run: Run, turn: int) -> str:
        planner_input = await self._gather_context(run, turn)
        started = time.perf_counter()
        with tracer.start_as_current_span("PlanGeneration") as span:
            span.set_attribute("turn", turn)
            reply = await self._request_plan(run, planner_input)
            span.set_attribute("model_name", reply.model_name)
        log.info("plan_received", turn=turn, model=reply.model_name, latency_ms=reply.latency_ms)
        await self._audit(run, "PLAN_MODEL_RESPONSE", plan=reply.plan)
        await run.sink.emit(
            PLAN_RECEIVED,
            {
                "turn": turn,
                "model": reply.model_name,
                "latency_ms": elapsed_ms(started),
                "plan": reply.plan,
            },
        )
        return reply.plan

    async def _request_plan(self, run: Run, planner_input: str) -> pb.PlanResponse:
        """The one place plans come from (streamed as plan.delta events for a run)."""
        try:
            return await fetch_plan(
                self.deps.gateway, planner_input, run.resources, run.sink, run.turn
            )
        except DependencyError as exc:
            await self._audit(run, "PLAN_ERROR", error=str(exc))
            raise AgentLoopError(str(exc)) from exc

    async def _gather_context(self, run: Run, turn: int) -> str:
        started = time.perf_counter()
        context = await self.context.gather(run.session_id, run.prompt)
        await run.sink.emit(
            CONTEXT_RETRIEVED,
            {
                "turn": turn,
                "history_messages": len(context.history),
                "knowledge_bases": list(self.limits.knowledge_bases),
                "matches": len(context.matches),
                "latency_ms": elapsed_ms(started),
            },
        )
        return build_planner_input(context.history, context.matches, run.prompt)

    async def _use_tool(self, run: Run, plan: str, call: ToolCall) -> None:
        await self._audit(run, "TOOL_CALL", tool=call.name, args=call.args)
        await run.sink.emit(TOOL_STARTED, {"turn": run.turn, "name": call.name, "args": call.args})
        started = time.perf_counter()
        with tracer.start_as_current_span("ToolCallExecution") as span:
            span.set_attribute("tool.name", call.name)
            try:
                output = await self.deps.sandbox.execute_tool(call)
            except DependencyError as exc:
                log.warning("tool_call_failed", tool=call.name, error=str(exc))
                await self._audit(run, "TOOL_ERROR", tool=call.name, error=str(exc))
                await self._tool_finished(run, call, "error", str(exc), started)
                run.prompt += f"\n\nTool error: {exc}"
                return
        await self._audit(run, "TOOL_RESULT", tool=call.name, output=output)
        await self._tool_finished(run, call, tool_status(output), output, started)
        run.tool_steps += 1
        run.playbook.append({"role": "assistant", "content": plan})
        run.playbook.append({"role": "tool_result", "content": output})
        run.prompt = build_followup_prompt(run.prompt, plan, output)
        await self._store_delta(run, "[tool-plan]", plan)
        await self._store_delta(run, "[tool-output]", output)

    async def _tool_finished(
        self, run: Run, call: ToolCall, status: str, output: str, started: float
    ) -> None:
        limit = self.limits.tool_output_event_chars
        await run.sink.emit(
            TOOL_FINISHED,
            {
                "turn": run.turn,
                "name": call.name,
                "status": status,
                "output": output[:limit],
                "output_truncated": len(output) > limit,
                "latency_ms": elapsed_ms(started),
            },
        )

    async def _finish(self, run: Run, plan: str) -> str:
        run.playbook.append({"role": "assistant", "content": plan})
        await self._audit(run, "PLAN_END", result=plan)
        if run.tool_steps:
            await self._store_playbook(run)
        await self._store_delta(run, run.user_prompt, plan)
        self.deps.notifications.publish_result(run.trace_id, run.session_id, plan)
        self.deps.notifications.publish_status(run.trace_id, run.session_id, "COMPLETED")
        return plan

    async def _give_up(self, run: Run) -> str:
        log.warning("max_turns_reached", max_turns=self.limits.max_turns)
        await self._audit(run, "PLAN_END", result=MAX_TURNS_MESSAGE, reason="max_turns")
        self.deps.notifications.publish_status(run.trace_id, run.session_id, "MAX_TURNS")
        return MAX_TURNS_MESSAGE

    async def _store_delta(self, run: Run, user: str, assistant: str) -> None:
        try:
            await self.deps.memory.store_session_delta(run.session_id, user, assistant)
        except DependencyError as exc:
            log.warning("session_store_failed", error=str(exc))
            await self._audit(run, "MEMORY_WRITE_ERROR", write="session", error=str(exc))

    async def _store_playbook(self, run: Run) -> None:
        first_prompt = str(run.playbook[0]["content"])
        try:
            playbook_id = await self.deps.memory.store_playbook(
                run.session_id, first_prompt, run.playbook
            )
        except DependencyError as exc:
            log.warning("playbook_store_failed", error=str(exc))
            await self._audit(run, "MEMORY_WRITE_ERROR", write="playbook", error=str(exc))
            return
        log.info("playbook_stored", playbook_id=playbook_id, steps=len(run.playbook))

    async def _audit(self, run: Run, event_type: str, **data: Any) -> None:
        await self.deps.audit.record(run.trace_id, run.session_id, event_type, data)
