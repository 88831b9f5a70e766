"""/plan benchmarks against floors measured in the same run.

1. Overhead: p50/p95 of sequential /plan calls vs the floor p50 GetRAGContext (4 KBs) +
   p50 GetPlan (mock) + p50 GET /memory/latest, each called directly. The four calls are
   taken in turn, round after round, so machine noise falls on both sides alike.
2. Throughput at several concurrencies: requests/s, p50/p99, errors, and service CPU
   seconds per request divided by the CPU seconds of one query embedding.

3. With --compare-with DIR (another checkout of the project, e.g. an older commit): only
   throughput at the highest concurrency, this tree's stack and DIR's stack taken in turn
   for --rounds rounds, each started by its own tree's bench code and driven by this
   bench's client; requests/s of each and their ratio.

Every /plan uses a new session id, so each request does the same work (a reused session
would carry a growing history into every prompt). The memory service runs with its query
embedding cache off, so the repeated prompt is embedded every time.

    python -m bench.plan_bench [--seconds 30] [--samples 50] [--concurrency 1,8,32]
    python -m bench.plan_bench --compare-with ../old-checkout --concurrency 32 [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as the services run (see base_env)

import aiohttp
import grpc
import httpx

from bench.figures import COMPARISON_HEADER, Comparison, percentile
from bench.process_cpu import cpu_seconds
from bench.stack import PlannerTarget, other_tree_stack, planner_target, running_core_stack
from services.agent_planner.planner_input import build_planner_input
from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.knowledge_bases import PLANNER_KNOWLEDGE_BASES
from tests.support.core_services import CoreStack

if TYPE_CHECKING:
    from services.memory.embeddings import Embedder

PROMPT = "Say hello"
RAG_TOP_K = 3  # the planner's default AGENT_RAG_TOP_K
WARM_UP = 5
REQUEST_TIMEOUT = 60.0
CPU_TARGET = 1.5  # service CPU per /plan over the CPU of one torch query embedding
ROOT = Path(__file__).resolve().parents[1]
# Every /plan sends the same prompt: without the query cache each one still pays its
# embedding, as distinct prompts would.
MEMORY_ENV = {"EMBEDDING_QUERY_CACHE_SIZE": "0"}


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


async def _plan_until(http: aiohttp.ClientSession, deadline: float, out: list[float]) -> int:
    """Send /plan back to back until deadline; successes go to out; returns the errors."""
    errors = 0
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            async with http.post("/plan", json=plan_body()) as reply:
                await reply.read()
                ok = reply.status == 200
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if ok:
            out.append(time.perf_counter() - started)
        else:
            errors += 1
    return errors


async def _load(target: PlannerTarget, concurrency: int, seconds: float) -> Throughput:
    # aiohttp, not httpx: the driver shares the two cores with the stack, and httpx spent
    # 3.6 ms of CPU per /plan against aiohttp's 0.4, a third of what the services spend.
    async with aiohttp.ClientSession(
        base_url=target.url,
        headers=target.headers,
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        connector=aiohttp.TCPConnector(limit=concurrency),
    ) as http:
        warm_up = time.perf_counter() + 1
        await asyncio.gather(*(_plan_until(http, warm_up, []) for _ in range(concurrency)))
        latencies: list[float] = []
        pids = {name: [pid] for name, pid in target.pids.items()}
        cpu_before = {name: cpu_seconds(tree) for name, tree in pids.items()}
        started = time.perf_counter()
        errors = await asyncio.gather(
            *(_plan_until(http, started + seconds, latencies) for _ in range(concurrency))
        )
        elapsed = time.perf_counter() - started
        used = {name: cpu_seconds(tree) - cpu_before[name] for name, tree in pids.items()}
    return Throughput(concurrency, elapsed, latencies, sum(errors), used)


def measure_throughput(target: PlannerTarget, concurrency: int, seconds: float) -> Throughput:
    """Requests back to back from `concurrency` clients for `seconds` (after a warm-up)."""
    return asyncio.run(_load(target, concurrency, seconds))


def embedding_cpu_seconds(pause: float | None) -> tuple[float, float | None]:
    """CPU seconds of one query embedding with torch, through the memory service's code:
    back to back (200 times, the floor), and, when `pause` is given, after that many seconds
    of idleness each (100 times, as between the requests of one client)."""
    from services.memory.embeddings import Embedder
    from tests.support.embeddings import embedding_config

    # torch on one thread, as the floor: one query embedding with torch.
    embedder = Embedder.load(embedding_config(backend="torch", threads=1))
    try:
        for _ in range(20):
            embedder.encode_now([PROMPT])
        paused = None if pause is None else _embedding_cpu(embedder, 100, pause)
        return _embedding_cpu(embedder, 200, 0.0), paused
    finally:
        embedder.close()


def _embedding_cpu(embedder: Embedder, repetitions: int, pause: float) -> float:
    used = 0.0
    for _ in range(repetitions):
        time.sleep(pause)
        started = time.process_time()
        embedder.encode_now([PROMPT])
        used += time.process_time() - started
    return used / repetitions


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


def throughput_section(
    results: list[Throughput], embed_cpu: float, paused_cpu: float | None = None
) -> list[str]:
    paused = ""
    if paused_cpu is not None:
        # The floor is measured back to back, with the model's weights in the caches; at
        # concurrency 1 the services work in short bursts between idle gaps, and so would
        # the same embedding.
        paused = (
            f" For scale, the same embedding after a pause as long as a /plan at concurrency"
            f" 1 takes: {paused_cpu * 1000:.2f} ms CPU."
        )
        print(paused.strip())
    rows = [
        "### /plan throughput",
        "",
        f"One query embedding: {embed_cpu * 1000:.2f} ms CPU (floor for the CPU ratio).{paused}",
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
    parser.add_argument(
        "--compare-with", type=Path, help="another checkout: compare throughput with its stack"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --compare-with (3)")
    return parser.parse_args(argv)


def tree_label(root: Path) -> str:
    """The checkout's commit (short), or its directory's name outside git."""
    found = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() if found.returncode == 0 else root.name


def compare_trees(other: Path, concurrency: int, seconds: float, rounds: int) -> list[str]:
    """Throughput of this tree's stack and other's, in turn; markdown lines."""
    label = tree_label(other)
    stacks: dict[str, Callable[[], AbstractContextManager[PlannerTarget]]] = {
        "this tree": lambda: other_tree_stack(ROOT, **MEMORY_ENV),
        label: lambda: other_tree_stack(other.resolve(), **MEMORY_ENV),
    }
    rows = [
        f"### /plan throughput at concurrency {concurrency}: this tree against {label}",
        "",
        f"{rounds} rounds of {seconds:.0f} s each, the two stacks taken in turn, both driven "
        "by this bench's client.",
        "",
        "| round | tree | load | requests/s | p50 | p99 | errors | service CPU per /plan |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rates: dict[str, list[float]] = {name: [] for name in stacks}
    for round_number in range(1, rounds + 1):
        for name, open_stack in stacks.items():
            load = f"{os.getloadavg()[0]:.2f}"
            with open_stack() as target:
                result = measure_throughput(target, concurrency, seconds)
            rates[name].append(result.per_second)
            p50, p99 = (percentile(result.latencies, pct) * 1000 for pct in (50, 99))
            row = (
                f"| {round_number} | {name} | {load} | {result.per_second:.1f} | {p50:.1f} ms "
                f"| {p99:.1f} ms | {result.errors} | {result.cpu_per_request * 1000:.2f} ms |"
            )
            print(row, flush=True)
            rows.append(row)
    mine, theirs = (sum(values) / len(values) for values in rates.values())
    verdict = "meets" if mine >= 2 * theirs else "misses"
    summary = (
        f"Mean requests/s: {mine:.1f} against {theirs:.1f}, {mine / theirs:.2f} x "
        f"(target >= 2 x: {verdict} target)."
    )
    print(summary)
    return [*rows, "", summary, ""]


def main(argv: list[str] | None = None) -> list[str]:
    """Run the /plan benchmarks; print the figures and return them as markdown lines."""
    args = parse_args(argv)
    levels = [int(level) for level in args.concurrency.split(",")]
    if args.compare_with is not None:
        return compare_trees(args.compare_with, max(levels), args.seconds, args.rounds)
    with running_core_stack(**MEMORY_ENV) as stack:
        floor, latencies = measure_overhead(stack, args.samples)
        target = planner_target(stack)
        results = [measure_throughput(target, level, args.seconds) for level in levels]
    lines = overhead_section(floor, latencies)
    single = [result for result in results if result.concurrency == 1]
    gap = percentile(single[0].latencies, 50) if single and single[0].latencies else None
    return lines + throughput_section(results, *embedding_cpu_seconds(gap))


if __name__ == "__main__":
    main()
