"""One tool step of the agent loop: ask a reviewer when the policy says so, run the call in
the sandbox (once: its state is checkpointed before and after), or hand the model the
rejection or the "interrupted, result unknown" note instead of an output."""

from __future__ import annotations

import time
import uuid
from typing import Any

from services.agent_planner.approval import (
    IDEMPOTENT_TOOLS,
    INTERRUPTED_OUTPUT,
    REJECTED_OUTPUT,
    CallState,
    PendingCall,
)
from services.agent_planner.errors import DependencyError
from services.agent_planner.events import TOOL_FINISHED, TOOL_STARTED, elapsed_ms, tool_status
from services.agent_planner.limits import LoopLimits
from services.agent_planner.metrics import tracer
from services.agent_planner.planner_input import build_followup_prompt
from services.agent_planner.run_state import LoopDependencies, Run
from services.kit.logs import get_logger
from services.kit.tool_catalogue import ToolCall

log = get_logger("agent_loop")


def new_pending_call(run: Run, plan: str, call: ToolCall) -> PendingCall:
    state = CallState.AWAITING if run.approval.requires(call.name) else CallState.APPROVED
    return PendingCall(f"call_{uuid.uuid4().hex}", call.name, call.args, plan, run.turn, state)


class ToolStep:
    def __init__(self, deps: LoopDependencies, limits: LoopLimits) -> None:
        self.deps = deps
        self.limits = limits

    async def settle(self, run: Run) -> bool:
        """Finish run.pending; False when it now waits for a reviewer (the run stops here)."""
        pending = run.pending
        assert pending is not None
        if pending.state == CallState.AWAITING:
            await self._ask_reviewer(run, pending)
            return False
        if pending.state == CallState.REJECTED:
            output = REJECTED_OUTPUT.format(reason=pending.reason or "")
            await self._tool_finished(run, pending, "rejected", output, time.perf_counter())
            await self._record_output(run, pending, output)
        elif pending.state == CallState.RUNNING and pending.name not in IDEMPOTENT_TOOLS:
            log.warning("tool_call_interrupted", tool=pending.name, call_id=pending.call_id)
            await self._audit(run, "TOOL_INTERRUPTED", tool=pending.name, call_id=pending.call_id)
            await self._tool_finished(run, pending, "interrupted", INTERRUPTED_OUTPUT, 0.0)
            await self._record_output(run, pending, INTERRUPTED_OUTPUT)
        else:
            await self._execute(run, pending)
        run.pending = None
        await run.checkpoints.save(run.checkpoint())
        return True

    async def _ask_reviewer(self, run: Run, pending: PendingCall) -> None:
        await self._audit(run, "TOOL_APPROVAL_REQUESTED", **pending.request())
        self.deps.notifications.publish_status(run.trace_id, run.session_id, "WAITING_APPROVAL")
        # Parks the run and stores its tool.approval_required event in one step.
        await run.checkpoints.save(run.checkpoint(), waiting=True)

    async def _execute(self, run: Run, pending: PendingCall) -> None:
        call = ToolCall(pending.name, pending.args)
        pending.state = CallState.RUNNING
        await run.checkpoints.save(run.checkpoint())  # a restart must know it may have run
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
                await self._tool_finished(run, pending, "error", str(exc), started)
                run.prompt += f"\n\nTool error: {exc}"
                return
        await self._audit(run, "TOOL_RESULT", tool=call.name, output=output)
        await self._tool_finished(run, pending, tool_status(output), output, started)
        await self._record_output(run, pending, output)

    async def _record_output(self, run: Run, pending: PendingCall, output: str) -> None:
        run.tool_steps += 1
        run.playbook.append({"role": "assistant", "content": pending.plan})
        run.playbook.append({"role": "tool_result", "content": output})
        run.prompt = build_followup_prompt(run.prompt, pending.plan, output)
        await self.store_delta(run, "[tool-plan]", pending.plan)
        await self.store_delta(run, "[tool-output]", output)

    async def _tool_finished(
        self, run: Run, pending: PendingCall, status: str, output: str, started: float
    ) -> None:
        limit = self.limits.tool_output_event_chars
        await run.sink.emit(
            TOOL_FINISHED,
            {
                "turn": run.turn,
                "name": pending.name,
                "call_id": pending.call_id,
                "status": status,
                "output": output[:limit],
                "output_truncated": len(output) > limit,
                "latency_ms": elapsed_ms(started) if started else 0.0,
            },
        )

    async def store_delta(self, run: Run, user: str, assistant: str) -> None:
        try:
            await self.deps.memory.store_session_delta(run.session_id, user, assistant)
        except DependencyError as exc:
            log.warning("session_store_failed", error=str(exc))
            await self._audit(run, "MEMORY_WRITE_ERROR", write="session", error=str(exc))

    async def _audit(self, run: Run, event_type: str, **data: Any) -> None:
        await self.deps.audit.record(run.trace_id, run.session_id, event_type, data)
