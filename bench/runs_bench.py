"""Runs benchmarks on one core stack (mock model), each figure beside a floor from the same
run:

1. Time to first event: POST /plan with Accept: text/event-stream, from the request to its
   first event (run.queued) and to its first loop step (context.retrieved, which a fast step
   sends together with the next one), beside the latency of a plain /plan taken in turn.
2. CPU per streamed run (a streamed /plan read to its terminal event) vs CPU per plain
   /plan, summed over every service process from /proc, the two modes alternating in short
   phases at the same concurrency. Target: ratio <= 1.1, at concurrency 1: one run's own
   cost. At concurrency 4 (shown beside it) memory encodes queries that arrive together in
   one batch, and how often they do depends on the timing of each mode's calls, not on what
   the run asks of memory.
3. Events per second one planner process delivers to 100 concurrent readers replaying
   finished tool runs (11 events each), beside the floor: GET /runs/{id} reads per second by
   the same 100 clients (one stored-record read per request).

    python -m bench.runs_bench [--samples 30] [--phase-seconds 5] [--phases 4] [--readers 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as the services run

import httpx

from bench.figures import COMPARISON_HEADER, Comparison, percentile
from bench.process_cpu import cpu_seconds
from bench.stack import running_core_stack
from tests.support.core_services import CoreStack

HELLO = "Say hello"
SEARCH = "Search the web for the latest Python release"
TIMEOUT = 120.0
CPU_TARGET = 1.1
# The target is read at the first; the second is shown beside it.
CPU_CONCURRENCIES = (1, 4)
STREAM = {"Accept": "text/event-stream"}
CpuByService = dict[str, dict[str, float]]  # mode -> service -> CPU seconds per call


def body(prompt: str = HELLO) -> dict[str, object]:
    return {"prompt": prompt, "session_id": f"bench-runs-{uuid.uuid4().hex}"}


async def plain_plan(http: httpx.AsyncClient) -> None:
    (await http.post("/plan", json=body())).raise_for_status()


async def streamed_plan(http: httpx.AsyncClient) -> dict[str, float]:
    """Read a streamed /plan to its end; seconds from the request to each event type's
    first arrival."""
    started = time.perf_counter()
    seen: dict[str, float] = {}
    async with http.stream("POST", "/plan", json=body(), headers=STREAM) as reply:
        reply.raise_for_status()
        async for line in reply.aiter_lines():
            if line.startswith("event: "):
                seen.setdefault(line.removeprefix("event: "), time.perf_counter() - started)
    return seen


async def first_event_figures(http: httpx.AsyncClient, samples: int) -> tuple[float, float, float]:
    """p50 times to the first event and to the first loop step of a streamed /plan, and
    p50 plain /plan latency."""
    firsts, steps, plains = [], [], []
    for _ in range(samples + 3):
        seen = await streamed_plan(http)
        firsts.append(seen["run.queued"])
        steps.append(seen["context.retrieved"])
        started = time.perf_counter()
        await plain_plan(http)
        plains.append(time.perf_counter() - started)
    return percentile(firsts[3:], 50), percentile(steps[3:], 50), percentile(plains[3:], 50)


async def cpu_per_call(
    stack: CoreStack, call: Callable[[], Awaitable[object]], seconds: float, concurrency: int
) -> tuple[dict[str, float], int]:
    """Service CPU seconds (per service) and calls completed by `concurrency` clients."""
    done = 0

    async def client(deadline: float) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call()
            done += 1

    before = {name: cpu_seconds([p.pid]) for name, p in stack.processes.items()}
    deadline = time.perf_counter() + seconds
    await asyncio.gather(*(client(deadline) for _ in range(concurrency)))
    used = {name: cpu_seconds([p.pid]) - before[name] for name, p in stack.processes.items()}
    return used, done


async def cpu_figures(
    stack: CoreStack, http: httpx.AsyncClient, phases: int, seconds: float, concurrency: int
) -> CpuByService:
    """CPU per call by service, streamed run vs plain /plan, alternating."""
    calls = {"plain": lambda: plain_plan(http), "streamed": lambda: streamed_plan(http)}
    used: dict[str, dict[str, float]] = {mode: {} for mode in calls}
    counts = dict.fromkeys(calls, 0)
    for _ in range(phases):
        for mode, call in calls.items():
            phase, count = await cpu_per_call(stack, call, seconds, concurrency)
            counts[mode] += count
            for name, value in phase.items():
                used[mode][name] = used[mode].get(name, 0.0) + value
    return {
        mode: {name: value / max(1, counts[mode]) for name, value in per.items()}
        for mode, per in used.items()
    }


async def finished_runs(http: httpx.AsyncClient, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        reply = await http.post("/runs", json=body(SEARCH))
        reply.raise_for_status()
        ids.append(reply.json()["run_id"])
    for run_id in ids:
        async with http.stream("GET", f"/runs/{run_id}/events") as reply:
            async for _ in reply.aiter_lines():
                pass
    return ids


async def read_all(http: httpx.AsyncClient, run_ids: list[str]) -> int:
    events = 0
    for run_id in run_ids:
        async with http.stream("GET", f"/runs/{run_id}/events") as reply:
            async for line in reply.aiter_lines():
                events += line.startswith("id: ")
    return events


async def get_all(http: httpx.AsyncClient, run_ids: list[str]) -> int:
    for run_id in run_ids:
        (await http.get(f"/runs/{run_id}")).raise_for_status()
    return len(run_ids)


async def delivery_figures(
    stack: CoreStack, http: httpx.AsyncClient, readers: int
) -> tuple[float, float, float, float]:
    """Events/s to `readers` replaying streams, planner CPU per event, record reads/s, and
    the share of one core the planner used while delivering."""
    run_ids = await finished_runs(http, 20)
    planner_pid = [stack.planner.process.pid]
    started, cpu_before = time.perf_counter(), cpu_seconds(planner_pid)
    events = sum(await asyncio.gather(*(read_all(http, run_ids) for _ in range(readers))))
    elapsed, cpu_used = time.perf_counter() - started, cpu_seconds(planner_pid) - cpu_before
    started = time.perf_counter()
    reads = sum(await asyncio.gather(*(get_all(http, run_ids) for _ in range(readers))))
    busy = cpu_used / elapsed
    return (
        events / elapsed,
        cpu_used / max(1, events),
        reads / (time.perf_counter() - started),
        busy,
    )


async def measure(stack: CoreStack, args: argparse.Namespace) -> list[str]:
    planner = stack.planner
    limits = httpx.Limits(max_connections=args.readers + 10)
    async with httpx.AsyncClient(
        base_url=planner.url, headers=planner.headers(), timeout=TIMEOUT, limits=limits
    ) as http:
        first, step, plain = await first_event_figures(http, args.samples)
        cpu = {
            concurrency: await cpu_figures(
                stack, http, args.phases, args.phase_seconds, concurrency
            )
            for concurrency in CPU_CONCURRENCIES
        }
        per_second, cpu_per_event, reads, busy = await delivery_figures(stack, http, args.readers)
    lines = report((first, step, plain), cpu, per_second, cpu_per_event, reads, args)
    notes = [
        *(split_line(concurrency, by_service) for concurrency, by_service in cpu.items()),
        f"planner busy {busy:.0%} of one core while delivering (below 100%: the bench's own"
        " HTTP client, on the same cores, bounds the events/s figure)",
    ]
    print("\n".join(notes))
    return [*lines, *notes, ""]


def cpu_comparison(concurrency: int, by_service: CpuByService) -> Comparison:
    streamed, plain = sum(by_service["streamed"].values()), sum(by_service["plain"].values())
    name = f"service CPU per streamed run (concurrency {concurrency})"
    return Comparison(name, streamed * 1000, plain * 1000, "ms", CPU_TARGET)


def split_line(concurrency: int, by_service: CpuByService) -> str:
    streamed, plain = by_service["streamed"], by_service["plain"]
    split = "; ".join(
        f"{name} {streamed[name] * 1000:.2f} vs {plain[name] * 1000:.2f} ms" for name in plain
    )
    return f"CPU per call by service at concurrency {concurrency}, streamed vs plain: {split}"


def report(
    latencies: tuple[float, float, float],
    cpu: dict[int, CpuByService],
    per_second: float,
    cpu_per_event: float,
    reads: float,
    args: argparse.Namespace,
) -> list[str]:
    target, *beside = (cpu_comparison(c, by_service) for c, by_service in cpu.items())
    first, step, plain = latencies
    lines = [
        f"time to first event (run.queued) of a streamed /plan, p50: {first * 1000:.1f} ms; to"
        f" its first loop step (context.retrieved): {step * 1000:.1f} ms; plain /plan p50:"
        f" {plain * 1000:.1f} ms; ratios {first / plain:.2f} and {step / plain:.2f}"
        f" ({args.samples} each)",
        target.line() + " (floor: CPU per plain /plan)",
        *(
            f"  beside it, {other.name}: {other.value:.4g} ms, floor {other.floor:.4g} ms, ratio"
            f" {other.ratio:.2f}"
            for other in beside
        ),
        f"events delivered to {args.readers} readers replaying stored runs: {per_second:.0f}/s,"
        f" planner CPU {cpu_per_event * 1e6:.0f} us per event; floor GET /runs/{{id}} by the"
        f" same readers: {reads:.0f}/s; ratio {per_second / reads:.2f}",
    ]
    for line in lines:
        print(line)
    return ["### runs (runs_bench)", "", *lines, "", COMPARISON_HEADER, target.row(), ""]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=30, help="first-event samples (30)")
    parser.add_argument("--phase-seconds", type=float, default=5.0, help="per CPU phase (5)")
    parser.add_argument("--phases", type=int, default=4, help="phases per mode (4)")
    parser.add_argument("--readers", type=int, default=100, help="concurrent readers (100)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[str]:
    args = parse_args(argv)
    with running_core_stack(EMBEDDING_QUERY_CACHE_SIZE="0") as stack:
        return asyncio.run(measure(stack, args))


if __name__ == "__main__":
    main()
