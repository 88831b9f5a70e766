"""The two floors of the gateway bench, each run as its own process:

    python -m bench.bench_servers provider PORT [--delay-ms 50]   # OpenAI-compatible, fixed delay
    python -m bench.bench_servers echo PORT                       # bare grpc.aio GetPlan echo
    python -m bench.bench_servers echo-uvloop PORT                # the same echo on uvloop
    python -m bench.bench_servers kit-echo PORT                   # the echo behind the kit's server
    python -m bench.bench_servers relay PORT --provider-port P    # bare grpc.aio -> aiohttp relay

The provider answers every chat completion after exactly the delay (asyncio, so 32 calls
at once all wait in parallel); the echo server is grpc.aio with nothing added: no
interceptor, no health, no logging, GetPlan returns the prompt. kit-echo serves the same
servicer with the kit's gRPC bootstrap (trace id, span, metrics and a log line per call),
which shows how much of the gateway's figure is the shared per-call plumbing; it runs on
uvloop, as every service does. echo-uvloop shows what that loop alone does to the bare echo.
relay is the least a gateway written with these libraries can do: GetPlan posts the prompt
to the provider with one pooled aiohttp session and returns the answer's text, with no
validation, prompt, log, metric, retry or error handling (on uvloop).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp
import grpc
import uvloop
from aiohttp import web

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.grpc_server import GrpcEndpoint
from services.kit.logs import configure_logging, start_batching

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
    start_batching()  # as a service does once it serves
    await asyncio.Event().wait()


class RelayServicer(pb_grpc.ModelGatewayServicer):
    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url

    async def GetPlan(
        self, request: pb.PlanRequest, context: grpc.aio.ServicerContext
    ) -> pb.PlanResponse:
        body = {"model": "relay", "messages": [{"role": "user", "content": request.prompt}]}
        async with self.http.post(self.url, json=body) as response:
            answer = await response.json()
        return pb.PlanResponse(plan=answer["choices"][0]["message"]["content"], model_name="relay")


async def serve_relay(port: int, provider_port: int) -> None:
    url = f"http://127.0.0.1:{provider_port}/v1/chat/completions"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=128)) as http:
        server = grpc.aio.server()
        pb_grpc.add_ModelGatewayServicer_to_server(RelayServicer(http, url), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()


async def serve_echo(port: int) -> None:
    server = grpc.aio.server()
    pb_grpc.add_ModelGatewayServicer_to_server(EchoServicer(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["provider", "echo", "echo-uvloop", "kit-echo", "relay"])
    parser.add_argument("port", type=int)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--provider-port", type=int, default=0)
    args = parser.parse_args()
    if args.kind == "provider":
        asyncio.run(serve_provider(args.port, args.delay_ms / 1000))
    elif args.kind == "echo":
        asyncio.run(serve_echo(args.port))
    else:  # the rest run on uvloop, as the services do
        serve = {
            "echo-uvloop": lambda: serve_echo(args.port),
            "kit-echo": lambda: serve_kit_echo(args.port),
            "relay": lambda: serve_relay(args.port, args.provider_port),
        }[args.kind]
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve())


if __name__ == "__main__":
    main()
