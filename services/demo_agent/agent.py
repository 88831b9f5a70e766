"""The demo agent's loop: up to MAX_TURNS of history → GetPlan → optional tool call, with
each tool's output fed into the next turn, then the run's messages stored in memory.

Failures of neighbours are recorded on the run, never raised: the caller reports them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.demo_agent.gateway_client import GatewayClient, GatewayError, GatewayPlan
from services.demo_agent.gateway_input import (
    build_gateway_input,
    tool_output_text,
    with_tool_result,
)
from services.demo_agent.memory_client import MemoryClient
from services.demo_agent.messages import Message
from services.demo_agent.sandbox_client import SandboxClient
from services.demo_agent.tool_calls import InvalidToolCall, parse_tool_call
from services.kit.json_limits import loads_bounded
from services.kit.logs import get_logger
from services.kit.outbound import DownstreamFailure
from services.kit.tool_catalogue import ToolCall

MAX_TURNS = 3
log = get_logger("demo_agent.loop")


@dataclass
class AgentRun:
    """What one /api/v1/plan request did."""

    prompt: str
    session_id: str
    turns_executed: int = 0
    history: list[Message] = field(default_factory=list)
    last_plan: GatewayPlan | None = None
    finished: bool = False
    gateway_error: str | None = None
    warnings: list[str] = field(default_factory=list)

    def warn(self, warning: str) -> None:
        """Record a problem once, however many turns run into it."""
        if warning not in self.warnings:
            self.warnings.append(warning)

    @property
    def status(self) -> str:
        if self.gateway_error is not None:
            return "error"
        return "ok" if self.finished else "max_turns"


class DemoAgent:
    def __init__(
        self, memory: MemoryClient, gateway: GatewayClient, sandbox: SandboxClient
    ) -> None:
        self._memory = memory
        self._gateway = gateway
        self._sandbox = sandbox

    async def run(self, prompt: str, session_id: str, request_id: str) -> AgentRun:
        run = AgentRun(prompt, session_id, history=[Message("user", prompt)])
        current = prompt
        for turn in range(1, MAX_TURNS + 1):
            run.turns_executed = turn
            next_prompt = await self._take_turn(run, current, request_id)
            if next_prompt is None:
                break
            current = next_prompt
        await self._store(run, request_id)
        return run

    async def _take_turn(self, run: AgentRun, prompt: str, request_id: str) -> str | None:
        """One turn; returns the next turn's prompt, or None when the run is over."""
        history = await self._load_history(run, request_id)
        try:
            plan = await self._gateway.get_plan(build_gateway_input(history, prompt))
        except GatewayError as exc:
            run.gateway_error = str(exc)
            log.warning("gateway_failed", turn=run.turns_executed, error=str(exc))
            return None
        run.last_plan = plan
        run.history.append(Message("assistant", plan.plan))
        output = await self._tool_output(plan.plan, request_id)
        if output is None:
            run.finished = True
            return None
        run.history.append(Message("tool_result", output))
        return with_tool_result(prompt, output)

    async def _tool_output(self, plan_text: str, request_id: str) -> str | None:
        """The output of the tool the plan asks for; None when the plan is a final answer."""
        try:
            call = parse_tool_call(plan_text)
        except InvalidToolCall as exc:
            return tool_output_text(failed_tool(exc.name, str(exc)))
        if call is None:
            return None
        return await self._run_tool(call, request_id)

    async def _run_tool(self, call: ToolCall, request_id: str) -> str:
        try:
            payload: Any = await self._sandbox.execute_tool(call, request_id)
        except DownstreamFailure as exc:
            log.warning("tool_failed", tool=call.name, error=str(exc))
            payload = failed_tool(call.name, str(exc))
        else:
            log.info("tool_executed", tool=call.name)
        return tool_output_text(payload)

    async def _load_history(self, run: AgentRun, request_id: str) -> list[Message]:
        try:
            return await self._memory.fetch_history(run.session_id, request_id)
        except DownstreamFailure as exc:
            run.warn(f"session history unavailable: {exc}")
            log.warning("history_unavailable", error=str(exc))
            return []

    async def _store(self, run: AgentRun, request_id: str) -> None:
        try:
            await self._memory.store_history(
                run.session_id, run.history, run.prompt, llm_response(run), request_id
            )
        except DownstreamFailure as exc:
            run.warn(f"history not stored: {exc}")
            log.warning("history_not_stored", error=str(exc))


def failed_tool(name: str, reason: str) -> dict[str, str]:
    return {"status": "failed", "tool_name": name, "error": reason}


def llm_response(run: AgentRun) -> dict[str, Any]:
    """The last gateway answer, or the reason there is none."""
    if run.last_plan is None:
        return {"error": run.gateway_error or "no plan", "status": "failed"}
    return {
        "plan": run.last_plan.plan,
        "model_name": run.last_plan.model_name,
        "latency_ms": run.last_plan.latency_ms,
    }


def parsed_plan(run: AgentRun) -> Any:
    """The last plan as JSON when it is JSON, else its text; None when there is no plan."""
    if run.last_plan is None:
        return None
    try:
        return loads_bounded(run.last_plan.plan)
    except ValueError:
        return run.last_plan.plan
