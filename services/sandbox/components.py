"""The sandbox's parts, built once from settings: the jail, the code runner, the search
provider, the execution slots and the CPU groups, joined in one ToolDispatcher."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from services.kit.logs import get_logger
from services.sandbox.code_runner import CodeRunner, Toolchain
from services.sandbox.cpu_limit import CpuGroups
from services.sandbox.dispatch import ToolDispatcher
from services.sandbox.jail_setup import build_jail
from services.sandbox.settings import SandboxSettings
from services.sandbox.slots import SlotPool
from services.sandbox.web_search import MockSearch, SearchProvider, SearxngSearch

log = get_logger("sandbox")


def search_provider(settings: SandboxSettings, client: httpx.AsyncClient) -> SearchProvider:
    if settings.WEB_SEARCH_PROVIDER == "searxng":
        return SearxngSearch(client, settings.SEARXNG_URL, settings.WEB_SEARCH_MAX_RESULTS)
    return MockSearch(settings.WEB_SEARCH_MAX_RESULTS)


async def build_dispatcher(settings: SandboxSettings, client: httpx.AsyncClient) -> ToolDispatcher:
    jail = await build_jail(settings)
    runner = CodeRunner(
        jail, Toolchain.detect(), settings.SANDBOX_WORK_ROOT, settings.SANDBOX_JVM_OVERHEAD_MB
    )
    slots = SlotPool(settings.SANDBOX_MAX_CONCURRENCY)
    root = settings.SANDBOX_CGROUP_ROOT.strip()
    cpu_groups = CpuGroups.detect(Path(root)) if root else None
    log.info("cpu_limit_enforcement", mode=cpu_limit_mode(cpu_groups))
    return ToolDispatcher(settings, runner, search_provider(settings, client), slots, cpu_groups)


def cpu_limit_mode(cpu_groups: CpuGroups | None) -> str:
    return f"cgroup v{cpu_groups.version}" if cpu_groups else "cpu-time rlimit"


def health_report(dispatcher: ToolDispatcher) -> dict[str, Any]:
    """What /health shows: the isolation and limits in force, and the slots in use."""
    return {
        "isolation": dispatcher.code_runner.jail.mode,
        "languages": dispatcher.code_runner.toolchain.languages(),
        "web_search_provider": dispatcher.search.name,
        "max_concurrency": dispatcher.slots.size,
        "executions_running": dispatcher.slots.in_use,
        "cpu_limit": cpu_limit_mode(dispatcher.cpu_groups),
    }
