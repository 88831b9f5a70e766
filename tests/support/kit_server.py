"""A small service built only from the kit, for testing the kit itself.

HTTP GET /relay calls this process's own gRPC GetPlan through a kit channel, so one request
crosses HTTP -> gRPC and both sides log the trace id. GetPlan with the prompt
SHOW_TRACE_CONTEXT answers with the trace context an outgoing call would carry on.
POST /direct is a direct route (services/kit/direct_routes.py): it answers
{"name", "trace_id", "via_router"}, or fails as its body's `fail` asks ("database":
DatabaseUnavailable, answered by the app's handler; "crash": an error no handler answers).
"""

from __future__ import annotations

import json
from typing import Any

import grpc
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.direct_routes import add_direct_route
from services.kit.errors import DatabaseUnavailable
from services.kit.grpc_client import open_channel
from services.kit.grpc_server import GrpcEndpoint
from services.kit.http_app import create_app, json_body
from services.kit.logs import get_logger
from services.kit.runtime import run, serve, start_service
from services.kit.settings import ServiceSettings
from services.kit.trace import current_trace_id
from services.kit.tracing import inject_context

log = get_logger("kit_server")
SHOW_TRACE_CONTEXT = "show trace context"


class KitServerSettings(ServiceSettings):
    KIT_HTTP_PORT: int = 8099
    KIT_GRPC_PORT: int = 50099


class DirectBody(BaseModel):
    name: str
    fail: str = ""


class EchoGateway(pb_grpc.ModelGatewayServicer):
    async def GetPlan(self, request: pb.PlanRequest, context: Any) -> pb.PlanResponse:
        log.info("echo_plan", prompt=request.prompt)
        plan = request.prompt
        if plan == SHOW_TRACE_CONTEXT:
            carrier: dict[str, str] = {}
            inject_context(carrier)
            plan = json.dumps(carrier)
        return pb.PlanResponse(plan=plan, model_name=current_trace_id() or "")


async def main() -> None:
    settings = start_service(KitServerSettings, "kit_server")
    endpoint = GrpcEndpoint.for_service(settings, settings.KIT_GRPC_PORT)
    endpoint.add(
        pb_grpc.add_ModelGatewayServicer_to_server, EchoGateway(), "modelgateway.ModelGateway"
    )
    channel = open_channel(
        f"localhost:{settings.KIT_GRPC_PORT}",
        settings.client_tls(),
        settings.TLS_SERVER_NAME,
        internal_key=settings.internal_key(),
    )
    stub = pb_grpc.ModelGatewayStub(channel)
    app = create_app("kit_server", max_body_bytes=1024, internal_key=settings.internal_key())

    @app.get("/relay")
    async def relay(prompt: str = "hi") -> dict[str, str]:
        try:
            reply = await stub.GetPlan(pb.PlanRequest(prompt=prompt), timeout=5)
        except grpc.aio.AioRpcError as exc:
            return {"error": exc.code().name}
        return {"plan": reply.plan, "callee_trace_id": reply.model_name}

    @app.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    async def direct(request: Request) -> JSONResponse:
        body = json_body(DirectBody, await request.body())
        if body.fail == "database":
            raise DatabaseUnavailable("database gone")
        if body.fail == "crash":
            raise RuntimeError("unexpected")
        # Starlette's router puts the endpoint in the scope; the direct path does not pass it.
        via_router = "endpoint" in request.scope
        return JSONResponse(
            {"name": body.name, "trace_id": current_trace_id(), "via_router": via_router}
        )

    add_direct_route(app, "/direct", direct, summary="A direct route")

    async def close_channel() -> None:
        await channel.close()

    await serve(
        http=(app, settings.KIT_HTTP_PORT),
        grpc_endpoint=endpoint,
        cleanups=[close_channel],
        host=settings.BIND_HOST,
    )


if __name__ == "__main__":
    run(main)
