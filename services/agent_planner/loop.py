"""AgentLoop: history -> RAG -> planner input -> GetPlan -> tool call or final answer,
for up to max_turns, with audit rows, notifications, session deltas and playbooks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from services.agent_planner.context import ContextGatherer, match_summary
from services.agent_planner.errors import AgentLoopError, DependencyError
from services.agent_planner.events import CONTEXT_RETRIEVED, PLAN_RECEIVED, elapsed_ms
from services.agent_planner.limits import LoopLimits
from services.agent_planner.metrics import LOOP_DURATION, PLAN_TOTAL, tracer
from services.agent_planner.plan_stream import fetch_plan
from services.agent_planner.planner_input import build_planner_input, parse_tool_call
from services.agent_planner.run_state import LoopDependencies, LoopOutcome, Run
from services.agent_planner.tool_step import ToolStep, new_pending_call
from services.agent_planner.validation import Resource
from services.contracts import modelgateway_pb2 as pb
from services.kit.logs import get_logger
from services.kit.trace import current_trace_id

__all__ = ["AgentLoop", "LoopDependencies", "LoopOutcome", "Run"]
MAX_TURNS_MESSAGE = "Max turns reached; unable to complete request."
log = get_logger("agent_loop")


class AgentLoop:
    def __init__(self, deps: LoopDependencies, limits: LoopLimits) -> None:
        self.deps = deps
        self.limits = limits
        self.context = ContextGatherer(deps.memory, limits)
        self.tool_step = ToolStep(deps, limits)

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
            await self.deps.audit.settled()  # the run's audit rows are in before its answer
            PLAN_TOTAL.labels(label).inc()
            LOOP_DURATION.observe(time.perf_counter() - started)

    async def _run(self, run: Run) -> LoopOutcome:
        with tracer.start_as_current_span("AgentLoopExecution") as span:
            span.set_attribute("session_id", run.session_id)
            span.set_attribute("resource_count", len(run.resources))
            if not run.playbook:  # a new run, not one resumed from a checkpoint
                await self._start(run)
            if run.pending is not None and not await self._settle_tool_step(run):
                return LoopOutcome("waiting_approval", "", run.turn)
            for turn in range(run.turn + 1, self.limits.max_turns + 1):
                run.turn = turn
                span.set_attribute("turn", turn)
                plan = await self._plan(run, turn)
                tool_call = parse_tool_call(plan)
                if tool_call is None:
                    return LoopOutcome("succeeded", await self._finish(run, plan), turn)
                run.pending = new_pending_call(run, plan, tool_call)
                if not await self._settle_tool_step(run):
                    return LoopOutcome("waiting_approval", "", turn)
            return LoopOutcome("max_turns", await self._give_up(run), run.turn)

    async def _start(self, run: Run) -> None:
        started = self._audit(
            run,
            "PLAN_START",
            prompt=run.prompt,
            resources=[r.as_json() for r in run.resources],
            max_turns=self.limits.max_turns,
            top_k=self.limits.top_k,
            kbs=list(run.knowledge.searched(self.limits.knowledge_bases)),
            **({"namespace": run.knowledge.namespace} if run.knowledge.namespace else {}),
        )
        # Announced once its row is in the log, as when the write was awaited here.
        started.add_done_callback(
            lambda _: self.deps.notifications.publish_status(
                run.trace_id, run.session_id, "STARTED"
            )
        )
        run.playbook.append({"role": "user", "content": run.prompt})

    async def _plan(self, run: Run, turn: int) -> str:
        planner_input = await self._gather_context(run, turn)
        started = time.perf_counter()
        with tracer.start_as_current_span("PlanGeneration") as span:
            span.set_attribute("turn", turn)
            reply = await self._request_plan(run, planner_input)
            span.set_attribute("model_name", reply.model_name)
        log.info("plan_received", turn=turn, model=reply.model_name, latency_ms=reply.latency_ms)
        self._audit(run, "PLAN_MODEL_RESPONSE", plan=reply.plan)
        # Stored with the run's next event (tool.started, or the ending): one write less.
        run.sink.hold(
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
            self._audit(run, "PLAN_ERROR", error=str(exc))
            raise AgentLoopError(str(exc)) from exc

    async def _gather_context(self, run: Run, turn: int) -> str:
        started = time.perf_counter()
        context = await self.context.gather(run.session_id, run.prompt, run.knowledge)
        await run.sink.emit(
            CONTEXT_RETRIEVED,
            {
                "turn": turn,
                "history_messages": len(context.history),
                "namespace": run.knowledge.namespace,
                "knowledge_bases": list(run.knowledge.searched(self.limits.knowledge_bases)),
                "matches": len(context.matches),
                "retrieved": [match_summary(m) for m in context.matches],
                "latency_ms": elapsed_ms(started),
            },
        )
        return build_planner_input(context.history, context.matches, run.prompt)

    async def _finish(self, run: Run, plan: str) -> str:
        run.playbook.append({"role": "assistant", "content": plan})
        self._audit(run, "PLAN_END", result=plan)
        if run.tool_steps:
            await self._store_playbook(run)
        # The rows are written while memory stores the delta (its request goes out first).
        await asyncio.gather(
            self.tool_step.store_delta(run, run.user_prompt, plan), self.deps.audit.settled()
        )  # notified once both are done
        self.deps.notifications.publish_result(run.trace_id, run.session_id, plan)
        self.deps.notifications.publish_status(run.trace_id, run.session_id, "COMPLETED")
        return plan

    async def _give_up(self, run: Run) -> str:
        log.warning("max_turns_reached", max_turns=self.limits.max_turns)
        self._audit(run, "PLAN_END", result=MAX_TURNS_MESSAGE, reason="max_turns")
        await self.deps.audit.settled()  # notified once the row is in
        self.deps.notifications.publish_status(run.trace_id, run.session_id, "MAX_TURNS")
        return MAX_TURNS_MESSAGE

    async def _settle_tool_step(self, run: Run) -> bool:
        # The run's rows so far are in before the step checkpoints its state.
        await self.deps.audit.settled()
        return await self.tool_step.settle(run)

    async def _store_playbook(self, run: Run) -> None:
        first_prompt = str(run.playbook[0]["content"])
        try:
            playbook_id = await self.deps.memory.store_playbook(
                run.session_id, first_prompt, run.playbook
            )
        except DependencyError as exc:
            log.warning("playbook_store_failed", error=str(exc))
            self._audit(run, "MEMORY_WRITE_ERROR", write="playbook", error=str(exc))
            return
        log.info("playbook_stored", playbook_id=playbook_id, steps=len(run.playbook))

    def _audit(self, run: Run, event_type: str, **data: Any) -> asyncio.Future[bool]:
        """Queue the row: it is written (in order) while the loop goes on; the rows are in
        before a tool step, a notification of the outcome and the run's answer."""
        return self.deps.audit.record_soon(run.trace_id, run.session_id, event_type, data)
