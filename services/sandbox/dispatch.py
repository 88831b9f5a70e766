"""Maps the shared catalogue's tool names to their executors and runs one call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.kit.logs import get_logger
from services.kit.tool_catalogue import EXECUTE_CODE, TOOLS_BY_NAME, WEATHER_TOOL, WEB_SEARCH
from services.sandbox.code_runner import CodeRunner, code_outcome
from services.sandbox.cpu_limit import nominal_core_mhz
from services.sandbox.errors import InvalidToolArgs
from services.sandbox.limits import ExecutionLimits, resolve_limits
from services.sandbox.outcome import ExecutionRequest, ToolOutcome
from services.sandbox.settings import SandboxSettings
from services.sandbox.slots import SlotPool
from services.sandbox.weather import weather_report
from services.sandbox.web_search import SearchProvider, clip_query, mark_clipped_query, parse_query

log = get_logger("sandbox.dispatch")
Executor = Callable[[ExecutionRequest, ExecutionLimits], Awaitable[ToolOutcome]]
# Requests may name an environment; the sandbox has one, and says so when asked for another.
ACCEPTED_ENVIRONMENTS = frozenset({"", "default", "sandbox", "generic-docker"})


class ToolDispatcher:
    def __init__(
        self,
        settings: SandboxSettings,
        code_runner: CodeRunner,
        search: SearchProvider,
        slots: SlotPool,
    ) -> None:
        self.settings = settings
        self.core_mhz = nominal_core_mhz()
        self.code_runner = code_runner
        self.search = search
        self.slots = slots
        self.executors: dict[str, Executor] = {
            WEB_SEARCH.name: self._web_search,
            EXECUTE_CODE.name: self._execute_code,
            WEATHER_TOOL.name: self._weather,
        }
        if set(self.executors) != set(TOOLS_BY_NAME):
            raise RuntimeError("sandbox executors and the tool catalogue disagree")

    async def execute(self, call: ExecutionRequest) -> ToolOutcome:
        """Raises InvalidToolRequest (bad limits) and SandboxBusy (no free slot)."""
        limits = resolve_limits(
            call.timeout_seconds,
            call.memory_limit_mb,
            self.settings,
            call.cpu_limit_mhz,
            self.core_mhz,
        )
        executor = self.executors.get(call.tool_name)
        if executor is None:
            return unknown_tool(call)
        try:
            return await executor(call, limits)
        except InvalidToolArgs as exc:
            payload = {"error": str(exc), "tool_name": call.tool_name}
            return ToolOutcome.from_json("invalid_args", payload, str(exc))

    async def _web_search(self, call: ExecutionRequest, limits: ExecutionLimits) -> ToolOutcome:
        query, clipped = clip_query(parse_query(call.args))
        timeout = min(float(limits.timeout_seconds), self.settings.SEARXNG_TIMEOUT_SECONDS)
        outcome = await self.search.search(query, timeout)
        return mark_clipped_query(outcome) if clipped else outcome

    async def _weather(self, call: ExecutionRequest, limits: ExecutionLimits) -> ToolOutcome:
        return weather_report(call.args)

    async def _execute_code(self, call: ExecutionRequest, limits: ExecutionLimits) -> ToolOutcome:
        async with self.slots.acquire(limits.timeout_seconds) as slot:
            identity = self.code_runner.jail.identity(slot)
            result = await self.code_runner.execute(call.args, limits, identity)
        cpu_mechanism = result.get("protections", {}).get("cpu_limit", "")
        result["execution_environment"] = self.describe_environment(call, limits, cpu_mechanism)
        result["limits"] = limits.as_json()
        log.info("code_executed", language=result["language"], status=result["status"])
        return code_outcome(result)

    def describe_environment(
        self, call: ExecutionRequest, limits: ExecutionLimits, cpu_mechanism: str = ""
    ) -> dict[str, Any]:
        mode = self.code_runner.jail.mode
        requested = call.execution_environment.strip()
        notes = []
        if requested not in ACCEPTED_ENVIRONMENTS and requested != mode:
            notes.append(f"execution_environment {requested!r} is not offered; ran in {mode}")
        if limits.cpu_share is not None:
            how = cpu_mechanism or "CPU-time limit per process"
            notes.append(
                f"cpu_limit_mhz {limits.cpu_limit_mhz}: at most {limits.cpu_share:.0%} of one "
                f"{self.core_mhz:.0f} MHz core ({how})"
            )
        return {"requested": requested, "used": mode, "notes": notes}


def unknown_tool(call: ExecutionRequest) -> ToolOutcome:
    payload = {"message": "Unknown tool", "tool_name": call.tool_name, "echo": call.args}
    return ToolOutcome.from_json("unknown_tool", payload)
