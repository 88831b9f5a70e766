"""The sandbox's parts, built once from settings: the jail, its protections (cgroups,
seccomp, disk quota), the code runner, the search provider and the execution slots, joined
in one ToolDispatcher."""

from __future__ import annotations

from typing import Any

import httpx

from services.kit.logs import get_logger
from services.sandbox.code_runner import CodeRunner, Toolchain
from services.sandbox.dispatch import ToolDispatcher
from services.sandbox.jail_setup import build_jail
from services.sandbox.protections import Protections
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
    protections = await Protections.detect(settings, jail)
    runner = CodeRunner(jail, Toolchain.detect(), protections, settings.SANDBOX_JVM_OVERHEAD_MB)
    slots = SlotPool(settings.SANDBOX_MAX_CONCURRENCY)
    return ToolDispatcher(settings, runner, search_provider(settings, client), slots)


def health_report(dispatcher: ToolDispatcher) -> dict[str, Any]:
    """What /health shows: the isolation and limits in force, and the slots in use."""
    runner = dispatcher.code_runner
    return {
        "isolation": runner.jail.mode,
        "languages": runner.toolchain.languages(),
        "web_search_provider": dispatcher.search.name,
        "max_concurrency": dispatcher.slots.size,
        "executions_running": dispatcher.slots.in_use,
        "protections": runner.protections.summary(runner.jail),
    }
