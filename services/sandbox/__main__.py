"""`python -m services.sandbox`: ToolService on gRPC and the tool routes on HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.grpc_server import GrpcEndpoint
from services.kit.http_app import create_app
from services.kit.logs import get_logger
from services.kit.runtime import run, serve, start_service
from services.sandbox.components import build_dispatcher, health_report
from services.sandbox.grpc import SERVICE_NAME, ToolServicer
from services.sandbox.http import add_tool_routes
from services.sandbox.settings import SandboxSettings

log = get_logger("sandbox")


async def main() -> None:
    settings = start_service(SandboxSettings, "sandbox")
    client = httpx.AsyncClient()
    dispatcher = await build_dispatcher(settings, client)
    protections = dispatcher.code_runner.protections
    # Off the loop and not awaited: a huge leftover must not delay start-up or /health.
    sweep = asyncio.create_task(asyncio.to_thread(protections.workspaces.sweep_leftovers))

    async def health() -> tuple[bool, dict[str, Any]]:
        return True, health_report(dispatcher)

    async def release_protections() -> None:
        sweep.cancel()
        if protections.cgroups is not None:
            protections.cgroups.remove()
        if protections.egress is not None:
            protections.egress.close()

    app = create_app("sandbox", health=health, internal_key=settings.internal_key())
    add_tool_routes(app, dispatcher)
    endpoint = GrpcEndpoint.for_service(settings, settings.RUST_SANDBOX_GRPC_PORT)
    endpoint.add(pb_grpc.add_ToolServiceServicer_to_server, ToolServicer(dispatcher), SERVICE_NAME)
    log.info("sandbox_ready", isolation=dispatcher.code_runner.jail.mode)
    await serve(
        http=(app, settings.RUST_SANDBOX_PORT),
        grpc_endpoint=endpoint,
        cleanups=[client.aclose, release_protections],
        host=settings.BIND_HOST,
    )


if __name__ == "__main__":
    run(main)
