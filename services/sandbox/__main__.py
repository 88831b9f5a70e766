"""`python -m services.sandbox`: ToolService on gRPC and the tool routes on HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.grpc_server import GrpcEndpoint
from services.kit.http_app import create_app
from services.kit.logs import get_logger
from services.kit.runtime import run, serve, start_service
from services.sandbox.code_runner import CodeRunner, Toolchain
from services.sandbox.cpu_limit import CpuGroups
from services.sandbox.dispatch import ToolDispatcher
from services.sandbox.grpc import SERVICE_NAME, ToolServicer
from services.sandbox.http import add_tool_routes
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
    log.info(
        "cpu_limit_enforcement",
        mode=f"cgroup v{cpu_groups.version}" if cpu_groups else "cpu-time rlimit",
    )
    return ToolDispatcher(settings, runner, search_provider(settings, client), slots, cpu_groups)


async def main() -> None:
    settings = start_service(SandboxSettings, "sandbox")
    client = httpx.AsyncClient()
    dispatcher = await build_dispatcher(settings, client)

    async def health() -> tuple[bool, dict[str, Any]]:
        return True, {
            "isolation": dispatcher.code_runner.jail.mode,
            "languages": dispatcher.code_runner.toolchain.languages(),
            "web_search_provider": dispatcher.search.name,
            "max_concurrency": dispatcher.slots.size,
            "executions_running": dispatcher.slots.in_use,
            "cpu_limit": (
                f"cgroup v{dispatcher.cpu_groups.version}"
                if dispatcher.cpu_groups
                else "cpu-time rlimit"
            ),
        }

    async def remove_cpu_groups() -> None:
        if dispatcher.cpu_groups is not None:
            dispatcher.cpu_groups.remove()

    app = create_app("sandbox", health=health)
    add_tool_routes(app, dispatcher)
    endpoint = GrpcEndpoint(settings.RUST_SANDBOX_GRPC_PORT, settings.server_tls())
    endpoint.add(pb_grpc.add_ToolServiceServicer_to_server, ToolServicer(dispatcher), SERVICE_NAME)
    log.info("sandbox_ready", isolation=dispatcher.code_runner.jail.mode)
    await serve(
        http=(app, settings.RUST_SANDBOX_PORT),
        grpc_endpoint=endpoint,
        cleanups=[client.aclose, remove_cpu_groups],
    )


if __name__ == "__main__":
    run(main)
