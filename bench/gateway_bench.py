"""Model gateway benchmarks against floors measured in the same run.

1. Overhead: GetPlan through the gateway (openai provider pointed at a loopback provider
   that answers after a fixed 50 ms) minus a direct HTTP call with the same body to the same
   provider, p50 and p99, at concurrency 1 and 32. Direct and gateway batches are taken in
   turn, round after round, so machine noise falls on both sides alike. The gateway runs as
   in production (INFO logs, metrics, trailing metadata) without the RAG preamble, which
   would add a memory lookup to the figure. Targets at concurrency 32: p50 <= 2 ms,
   p99 <= 10 ms. Beside it, for scale, the same figure for a bare relay: a grpc.aio server
   whose GetPlan is one aiohttp call and nothing else, the least any gateway built on
   these libraries adds on this machine.
2. CPU per GetPlan (mock provider) over the CPU per call of a bare grpc.aio echo server,
   both driven the same way; from /proc. Target <= 1.5. The server measured runs on a core
   of its own, the client on the other(s): sharing a core with the client moved the echo's
   figure by up to half from one round to the next (ratios 1.0 to 1.9 in four rounds), and
   the pinned ratio stays within a few percent. The services run on uvloop and the floor
   on asyncio's loop, so the same echo on uvloop is shown beside it, for scale.

    python -m bench.gateway_bench [--rounds 6] [--per-round 96] [--cpu-calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import grpc

from bench.figures import COMPARISON_HEADER, Comparison, percentile
from bench.process_cpu import apart_from_us, cpu_seconds
from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.model_gateway.openai_compat import TEMPERATURE
from services.model_gateway.prompt import chat_messages, user_message
from tests.support.processes import ServiceProcess, base_env, free_port, http_ready

PROMPT = "Generate a 3-step plan to tidy a garage"
MODEL = "bench-model"
CONCURRENCIES = (1, 32)
CPU_CONCURRENCY = 8
TARGET_P50_MS, TARGET_P99_MS, TARGET_CPU_RATIO = 2.0, 10.0, 1.5
Call = Callable[[], Awaitable[object]]


def bench_server(kind: str, port: int, workdir: Path, *extra: str) -> ServiceProcess:
    return ServiceProcess(
        name=f"bench-{kind}",
        argv=[sys.executable, "-m", "bench.bench_servers", kind, str(port), *extra],
        env=base_env(),
        cwd=workdir,
        log_path=workdir / f"{kind}.log",
    )


def gateway(workdir: Path, **env: str) -> tuple[ServiceProcess, int]:
    grpc_port, http_port = free_port(), free_port()
    settings = {
        "MODEL_GATEWAY_GRPC_PORT": str(grpc_port),
        "MODEL_GATEWAY_HTTP_PORT": str(http_port),
        "RAG_GRPC_ADDR": f"127.0.0.1:{free_port()}",
        "RAG_PREAMBLE": "false",
        **env,
    }
    proc = ServiceProcess(
        name="model_gateway",
        argv=[sys.executable, "-m", "services.model_gateway"],
        env=base_env(**settings),
        cwd=workdir,
        log_path=workdir / f"gateway-{grpc_port}.log",
        ready=[http_ready(http_port)],
    )
    return proc, grpc_port


async def wait_for_port(port: int, hung_seconds: float = 60) -> None:
    deadline = time.monotonic() + hung_seconds
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after {hung_seconds}s")


async def latencies(call: Call, count: int, concurrency: int) -> list[float]:
    """`count` calls by `concurrency` workers; each call's latency in seconds."""
    results: list[float] = []

    async def worker(share: int) -> None:
        for _ in range(share):
            started = time.perf_counter()
            await call()
            results.append(time.perf_counter() - started)

    shares = [count // concurrency + (i < count % concurrency) for i in range(concurrency)]
    await asyncio.gather(*(worker(share) for share in shares))
    return results


def direct_call(http: aiohttp.ClientSession, port: int) -> Call:
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    body = {
        "model": MODEL,
        "messages": chat_messages(user_message(PROMPT, [], [])),
        "temperature": TEMPERATURE,
    }
    headers = {"Authorization": "Bearer bench-key"}

    async def call() -> object:
        async with http.post(url, json=body, headers=headers) as response:
            return await response.read()

    return call


def plan_call(stub: pb_grpc.ModelGatewayStub) -> Call:
    request = pb.PlanRequest(prompt=PROMPT)

    async def call() -> object:
        return await stub.GetPlan(request, timeout=30)

    return call


async def overhead(
    provider_port: int, relay_port: int, gateway_port: int, rounds: int, per_round: int
) -> list[str]:
    lines = []
    connector = aiohttp.TCPConnector(limit=128)
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        grpc.aio.insecure_channel(f"127.0.0.1:{relay_port}") as relay_channel,
        grpc.aio.insecure_channel(f"127.0.0.1:{gateway_port}") as channel,
    ):
        direct, via_relay, via_gateway = (
            direct_call(http, provider_port),
            plan_call(pb_grpc.ModelGatewayStub(relay_channel)),
            plan_call(pb_grpc.ModelGatewayStub(channel)),
        )
        for call in (direct, via_relay, via_gateway):
            await latencies(call, 64, 32)
        for concurrency in CONCURRENCIES:
            floor: list[float] = []
            relayed: list[float] = []
            measured: list[float] = []
            for _ in range(rounds):
                floor += await latencies(direct, per_round, concurrency)
                relayed += await latencies(via_relay, per_round, concurrency)
                measured += await latencies(via_gateway, per_round, concurrency)
            lines.append(overhead_line(concurrency, floor, measured))
            lines.append(relay_line(concurrency, floor, relayed))
    return lines


def overhead_line(concurrency: int, floor: list[float], measured: list[float]) -> str:
    figures = []
    for pct, target in ((50, TARGET_P50_MS), (99, TARGET_P99_MS)):
        direct_ms = percentile(floor, pct) * 1000
        gateway_ms = percentile(measured, pct) * 1000
        extra = gateway_ms - direct_ms
        verdict = (
            ""
            if concurrency != 32
            else (f", target <= {target:g} ms ({'meets' if extra <= target else 'misses'} target)")
        )
        figures.append(
            f"p{pct} {gateway_ms:.2f} ms vs direct {direct_ms:.2f} ms: "
            f"overhead {extra:.2f} ms{verdict}"
        )
    return f"GetPlan overhead at concurrency {concurrency} ({len(measured)} calls): " + "; ".join(
        figures
    )


def relay_line(concurrency: int, floor: list[float], relayed: list[float]) -> str:
    extra = [(percentile(relayed, pct) - percentile(floor, pct)) * 1000 for pct in (50, 99)]
    return (
        f"  for scale, a bare relay (grpc.aio server, one aiohttp call, nothing else) at "
        f"concurrency {concurrency}: overhead p50 {extra[0]:.2f} ms, p99 {extra[1]:.2f} ms"
    )


async def cpu_per_call(port: int, pid: int, calls: int) -> float:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = plan_call(pb_grpc.ModelGatewayStub(channel))
        with apart_from_us(pid):
            await latencies(call, 200, CPU_CONCURRENCY)
            before = cpu_seconds([pid])
            await latencies(call, calls, CPU_CONCURRENCY)
            return (cpu_seconds([pid]) - before) / calls


async def cpu_comparison(
    servers: dict[str, tuple[ServiceProcess, int]], calls: int
) -> tuple[Comparison, list[str]]:
    """CPU per call of each of servers (gateway, echo, echo-uvloop, kit-echo), in turn."""
    cpu = dict.fromkeys(servers, 0.0)
    for _ in range(2):  # in turn, so all see the same machine
        for kind, (proc, port) in servers.items():
            cpu[kind] += await cpu_per_call(port, proc.pid, calls // 2) / 2
    echo_cpu = cpu["echo"]
    name = f"gateway CPU per GetPlan (mock, concurrency {CPU_CONCURRENCY})"
    comparison = Comparison(name, cpu["gateway"] * 1e6, echo_cpu * 1e6, "us", TARGET_CPU_RATIO)
    notes = [
        f"of which the kit's per-call plumbing (the echo behind the kit's gRPC server): "
        f"{cpu['kit-echo'] * 1e6:.0f} us, ratio {cpu['kit-echo'] / echo_cpu:.2f} to the bare echo",
        f"for scale, the bare echo on uvloop (the services' loop): "
        f"{cpu['echo-uvloop'] * 1e6:.0f} us; the gateway's ratio to it: "
        f"{cpu['gateway'] / cpu['echo-uvloop']:.2f}",
    ]
    return comparison, notes


async def run(args: argparse.Namespace, workdir: Path) -> list[str]:
    started: list[ServiceProcess] = []

    def start(proc: ServiceProcess) -> ServiceProcess:
        started.append(proc)
        return proc.start()

    try:
        provider_port = free_port()
        start(bench_server("provider", provider_port, workdir))
        await wait_for_port(provider_port)
        relay_port = free_port()
        relay = start(
            bench_server("relay", relay_port, workdir, "--provider-port", str(provider_port))
        )
        await wait_for_port(relay_port)
        openai, openai_port = gateway(
            workdir,
            LLM_PROVIDER="openai",
            OPENAI_API_KEY="bench-key",
            OPENAI_BASE_URL=f"http://127.0.0.1:{provider_port}/v1",
            OPENAI_MODEL_NAME=MODEL,
            REQUEST_TIMEOUT_SECONDS="30",
        )
        start(openai)
        lines = await overhead(provider_port, relay_port, openai_port, args.rounds, args.per_round)
        openai.stop()
        relay.stop()
        servers: dict[str, tuple[ServiceProcess, int]] = {}
        for kind in ("echo", "echo-uvloop", "kit-echo"):
            port = free_port()
            servers[kind] = (start(bench_server(kind, port, workdir)), port)
            await wait_for_port(port)
        mock, mock_port = gateway(workdir, LLM_PROVIDER="mock")
        servers["gateway"] = (start(mock), mock_port)
        comparison, notes = await cpu_comparison(servers, args.cpu_calls)
    finally:
        for proc in reversed(started):
            proc.stop()
    return [*lines, comparison.line(), *notes, "", COMPARISON_HEADER, comparison.row()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=96)
    parser.add_argument("--cpu-calls", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pagi-gateway-bench-") as tmp:
        for line in asyncio.run(run(args, Path(tmp))):
            print(line, flush=True)


if __name__ == "__main__":
    main()
