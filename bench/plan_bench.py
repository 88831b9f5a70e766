"""/plan benchmarks against floors measured in the same run.

1. Overhead: p50/p95 of sequential /plan calls vs the floor p50 GetRAGContext (4 KBs) +
   p50 GetPlan (mock) + p50 GET /memory/latest, each called directly. The four calls are
   taken in turn, round after round, so machine noise falls on both sides alike.
2. Throughput at several concurrencies: requests/s, p50/p99, errors, and service CPU
   seconds per request divided by the CPU seconds of one query embedding.

Every /plan uses a new session id, so each request does the same work (a reused session
would carry a growing history into every prompt). The memory service runs with its query
embedding cache off, so the repeated prompt is embedded every time.

    python -m bench.plan_bench [--seconds 30] [--samples 50] [--concurrency 1,8,32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as the services run (see base_env)

import grpc
import httpx

from bench.figures import COMPARISON_HEADER, Comparison, percentile
from bench.process_cpu import cpu_seconds
from bench.stack import running_core_stack
from services.agent_planner.planner_input import build_planner_input
from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.knowledge_bases import PLANNER_KNOWLEDGE_BASES
from tests.support.core_services import CoreStack

PROMPT = "Say hello"
RAG_TOP_K = 3  # the planner's default AGENT_RAG_TOP_K
WARM_UP = 5
REQUEST_TIMEOUT = 60.0
CPU_TARGET = 1.5  # service CPU per /plan over the CPU of one torch query embedding


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


@dataclass(frozen=True)
class Floor:
    rag_p50: float
    get_plan_p50: float
    history_p50: float

    @property
    def total(self) -> float:
        return self.rag_p50 + self.get_plan_p50 + self.history_p50


def measure_overhead(stack: CoreStack, samples: int) -> tuple[Floor, list[float]]:
    """The floor's three direct calls and one /plan, taken in turn `samples` times (after
    WARM_UP rounds), so a noisy neighbour weighs on the figure and its floor alike."""
    rag_request = pb.RAGContextRequest(
        query=PROMPT, top_k=RAG_TOP_K, knowledge_bases=list(PLANNER_KNOWLEDGE_BASES)
    )
    planner = stack.planner
    with (
        grpc.insecure_channel(stack.memory.address) as memory_channel,
        grpc.insecure_channel(f"localhost:{stack.ports.gateway_grpc}") as gateway_channel,
        httpx.Client(base_url=stack.memory.url, timeout=REQUEST_TIMEOUT) as memory_http,
        httpx.Client(
            base_url=planner.url, headers=planner.headers(), timeout=REQUEST_TIMEOUT
        ) as planner_http,
    ):
        memory = pb_grpc.ModelGatewayStub(memory_channel)
        gateway = pb_grpc.ModelGatewayStub(gateway_channel)
        matches = memory.GetRAGContext(rag_request, timeout=REQUEST_TIMEOUT).matches
        plan_request = pb.PlanRequest(prompt=build_planner_input([], matches, PROMPT))

        def history() -> None:
            reply = memory_http.get("/memory/latest", params={"session_id": uuid.uuid4().hex})
            reply.raise_for_status()

        def plan() -> None:
            planner_http.post("/plan", json=plan_body()).raise_for_status()

        calls = (
            lambda: memory.GetRAGContext(rag_request, timeout=REQUEST_TIMEOUT),
            lambda: gateway.GetPlan(plan_request, timeout=REQUEST_TIMEOUT),
            history,
            plan,
        )
        rounds = [[timed(call) for call in calls] for _ in range(WARM_UP + samples)]
    rag, get_plan, latest, plans = (list(column) for column in zip(*rounds[WARM_UP:], strict=True))
    return Floor(percentile(rag, 50), percentile(get_plan, 50), percentile(latest, 50)), plans


def plan_body() -> dict[str, object]:
    return {"prompt": PROMPT, "session_id": f"bench-{uuid.uuid4().hex}", "resources": []}


@dataclass(frozen=True)
class Throughput:
    concurrency: int
    seconds: float
    latencies: list[float]
    errors: int
    cpu_by_service: dict[str, float]

    @property
    def service_cpu_seconds(self) -> float:
        return sum(self.cpu_by_service.values())

    def cpu_share(self) -> str:
        """Each service's CPU per request, e.g. 'memory 6.1, planner 8.0' (ms)."""
        completed = max(1, self.completed)
        return ", ".join(
            f"{name} {seconds / completed * 1000:.1f}"
            for name, seconds in sorted(self.cpu_by_service.items(), key=lambda item: -item[1])
        )

    @property
    def completed(self) -> int:
        return len(self.latencies) + self.errors

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def cpu_per_request(self) -> float:
        return self.service_cpu_seconds / max(1, self.completed)


async def _plan_until(http: httpx.AsyncClient, deadline: float, out: list[float]) -> int:
    """Send /plan back to back until deadline; successes go to out; returns the errors."""
    errors = 0
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            reply = await http.post("/plan", json=plan_body())
            ok = reply.status_code == 200
        except httpx.HTTPError:
            ok = False
        if ok:
            out.append(time.perf_counter() - started)
        else:
            errors += 1
    return errors


async def _load(stack: CoreStack, concurrency: int, seconds: float) -> Throughput:
    planner = stack.planner
    pids = {name: [proc.pid] for name, proc in stack.processes.items()}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=planner.url, headers=planner.headers(), timeout=REQUEST_TIMEOUT, limits=limits
    ) as http:
        await asyncio.gather(*(http.post("/plan", json=plan_body()) for _ in range(concurrency)))
        latencies: list[float] = []
        cpu_before = {name: cpu_seconds(tree) for name, tree in pids.items()}
        started = time.perf_counter()
        errors = await asyncio.gather(
            *(_plan_until(http, started + seconds, latencies) for _ in range(concurrency))
        )
        elapsed = time.perf_counter() - started
        used = {name: cpu_seconds(tree) - cpu_before[name] for name, tree in pids.items()}
    return Throughput(concurrency, elapsed, latencies, sum(errors), used)


def measure_throughput(stack: CoreStack, concurrency: int, seconds: float) -> Throughput:
    """Requests back to back from `concurrency` clients for `seconds` (after a warm-up)."""
    return asyncio.run(_load(stack, concurrency, seconds))


def embedding_cpu_seconds(repetitions: int = 200) -> float:
    """CPU seconds of one query embedding with torch, through the memory service's code."""
    from services.memory.embeddings import Embedder
    from tests.support.embeddings import embedding_config

    # torch on one thread, as the floor: one query embedding with torch.
    embedder = Embedder.load(embedding_config(backend="torch", threads=1))
    for _ in range(20):
        embedder.encode_now([PROMPT])
    started = time.process_time()
    for _ in range(repetitions):
        embedder.encode_now([PROMPT])
    embedder.close()
    return (time.process_time() - started) / repetitions


def overhead_section(floor: Floor, latencies: list[float]) -> list[str]:
    ms = 1000
    comparisons = [
        Comparison(
            "/plan p50 latency", percentile(latencies, 50) * ms, floor.total * ms, "ms", 1.25
        ),
        Comparison(
            "/plan p95 latency", percentile(latencies, 95) * ms, floor.total * ms, "ms", 1.5
        ),
    ]
    parts = (
        f"floor parts (p50): GetRAGContext 4 KBs {floor.rag_p50 * ms:.2f} ms, "
        f"GetPlan mock {floor.get_plan_p50 * ms:.2f} ms, "
        f"GET /memory/latest {floor.history_p50 * ms:.2f} ms"
    )
    for comparison in comparisons:
        print(comparison.line())
    print(parts)
    return [
        f"### /plan overhead ({len(latencies)} rounds of the floor calls and one /plan, "
        f"prompt {PROMPT!r})",
        "",
        COMPARISON_HEADER,
        *(c.row() for c in comparisons),
        "",
        parts,
        "",
    ]


def throughput_section(results: list[Throughput], embed_cpu: float) -> list[str]:
    rows = [
        "### /plan throughput",
        "",
        f"One query embedding: {embed_cpu * 1000:.2f} ms CPU (floor for the CPU ratio).",
        "",
        "| concurrency | requests/s | p50 | p99 | errors | service CPU/request "
        "| ratio to one embedding | target | CPU/request by service (ms) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        comparison = Comparison(
            f"CPU per /plan at concurrency {result.concurrency}",
            result.cpu_per_request * 1000,
            embed_cpu * 1000,
            "ms",
            CPU_TARGET,
        )
        p50, p99 = (percentile(result.latencies, pct) * 1000 for pct in (50, 99))
        print(
            f"concurrency {result.concurrency}: {result.per_second:.1f} req/s, p50 {p50:.1f} ms, "
            f"p99 {p99:.1f} ms, errors {result.errors}; {comparison.line()}; "
            f"by service (ms): {result.cpu_share()}"
        )
        rows.append(
            f"| {result.concurrency} | {result.per_second:.1f} | {p50:.1f} ms | {p99:.1f} ms "
            f"| {result.errors} | {comparison.value:.2f} ms | {comparison.ratio:.2f} "
            f"| <= {CPU_TARGET} ({comparison.verdict}) | {result.cpu_share()} |"
        )
    return [*rows, ""]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get("PLAN_BENCH_SECONDS", "30")),
        help="duration of each throughput run (env PLAN_BENCH_SECONDS; default 30)",
    )
    parser.add_argument("--samples", type=int, default=50, help="sequential samples (50)")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated (1,8,32)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[str]:
    """Run the /plan benchmarks; print the figures and return them as markdown lines."""
    args = parse_args(argv)
    levels = [int(level) for level in args.concurrency.split(",")]
    # Every /plan sends the same prompt: without the query cache each one still pays its
    # embedding, as distinct prompts would.
    with running_core_stack(EMBEDDING_QUERY_CACHE_SIZE="0") as stack:
        floor, latencies = measure_overhead(stack, args.samples)
        results = [measure_throughput(stack, level, args.seconds) for level in levels]
    lines = overhead_section(floor, latencies)
    return lines + throughput_section(results, embedding_cpu_seconds())


if __name__ == "__main__":
    main()
