"""The two floors of the gateway bench, each run as its own process:

    python -m bench.bench_servers provider PORT [--delay-ms 50]   # OpenAI-compatible, fixed delay
    python -m bench.bench_servers echo PORT                       # bare grpc.aio GetPlan echo
    python -m bench.bench_servers echo-uvloop PORT                # the same echo on uvloop
    python -m bench.bench_servers kit-echo PORT                   # the echo behind the kit's server

The provider answers every chat completion after exactly the delay (asyncio, so 32 calls
at once all wait in parallel); the echo server is grpc.aio with nothing added: no
interceptor, no health, no logging, GetPlan returns the prompt. kit-echo serves the same
servicer with the kit's gRPC bootstrap (trace id, span, metrics and a log line per call),
which shows how much of the gateway's figure is the shared per-call plumbing; it runs on
uvloop, as every service does. echo-uvloop shows what that loop alone does to the bare echo.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import grpc
import uvloop
from aiohttp import web

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.grpc_server import GrpcEndpoint
from services.kit.logs import configure_logging

ANSWER = '{"steps": ["Restate the goal", "Make a plan", "Check it"]}'


def completion_body(model: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ANSWER},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 200, "completion_tokens": 20, "total_tokens": 220},
        }
    ).encode()


async def serve_provider(port: int, delay: float) -> None:
    async def completions(request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.sleep(delay)
        return web.Response(
            body=completion_body(body.get("model", "bench")), content_type="application/json"
        )

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


class EchoServicer(pb_grpc.ModelGatewayServicer):
    async def GetPlan(
        self, request: pb.PlanRequest, context: grpc.aio.ServicerContext
    ) -> pb.PlanResponse:
        return pb.PlanResponse(plan=request.prompt, model_name="echo")


async def serve_kit_echo(port: int) -> None:
    configure_logging("kit-echo")
    endpoint = GrpcEndpoint(port, None)
    endpoint.add(
        pb_grpc.add_ModelGatewayServicer_to_server, EchoServicer(), "modelgateway.ModelGateway"
    )
    await endpoint.start()
    await asyncio.Event().wait()


async def serve_echo(port: int) -> None:
    server = grpc.aio.server()
    pb_grpc.add_ModelGatewayServicer_to_server(EchoServicer(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["provider", "echo", "echo-uvloop", "kit-echo"])
    parser.add_argument("port", type=int)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    args = parser.parse_args()
    if args.kind == "provider":
        asyncio.run(serve_provider(args.port, args.delay_ms / 1000))
    elif args.kind == "echo":
        asyncio.run(serve_echo(args.port))
    elif args.kind == "echo-uvloop":
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve_echo(args.port))
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve_kit_echo(args.port))


if __name__ == "__main__":
    main()
