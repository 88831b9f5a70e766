"""PostgreSQL against SQLite, and one planner against three behind nginx, in the same run.

1. Sequential /plan through a planner on SQLite and one on PostgreSQL (same memory, gateway
   and sandbox), interleaved: p50/p99 and CPU per /plan (the planner, plus the PostgreSQL
   server's processes for the PostgreSQL planner, since SQLite does that work in-process).
2. /plan throughput at a fixed concurrency through nginx in front of 1, then 3 planners on
   PostgreSQL, with the CPU of every process of the stack split by role.

    python -m bench.scale_bench [--samples N] [--seconds S] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.figures import COMPARISON_HEADER, Comparison, percentile
from bench.process_cpu import cpu_seconds
from bench.stack import running_core_stack
from scripts.devstack.scale import nginx_config
from scripts.devstack.service import Service
from tests.support.core_services import CoreStack, PlannerClient, planner_process
from tests.support.postgres import PostgresCluster
from tests.support.processes import ServiceProcess, free_port

PROMPT = "Generate a 3-step plan to tidy a garage"


def postmaster_pids(cluster: PostgresCluster) -> list[int]:
    pid_file = cluster.data_dir / "postmaster.pid"
    return [int(pid_file.read_text().split()[0])]


def one_plan(planner: PlannerClient, http: httpx.Client, n: int) -> float:
    started = time.perf_counter()
    reply = http.post(
        f"{planner.url}/plan",
        json={"prompt": PROMPT, "session_id": f"bench-{n % 8}"},
        headers=planner.headers(),
    )
    assert reply.status_code == 200, reply.text
    return time.perf_counter() - started


def backend_comparison(
    sqlite: PlannerClient, postgres: PlannerClient, pg_pids: list[int], samples: int
) -> list[str]:
    times: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    cpu = {"sqlite": 0.0, "postgresql": 0.0}
    roots = {"sqlite": [sqlite.process.pid], "postgresql": [postgres.process.pid, *pg_pids]}
    with httpx.Client(timeout=60) as http:
        for n in range(10):  # warm both
            one_plan(sqlite, http, n)
            one_plan(postgres, http, n)
        for n in range(samples):
            for name, planner in (("sqlite", sqlite), ("postgresql", postgres)):
                before = cpu_seconds(roots[name])
                times[name].append(one_plan(planner, http, n))
                cpu[name] += cpu_seconds(roots[name]) - before
    per = {name: cpu[name] / samples * 1000 for name in cpu}
    lines = [
        f"sequential /plan, {samples} each, interleaved",
        *(
            f"{name}: p50 {percentile(t, 50) * 1000:.1f} ms, p99 {percentile(t, 99) * 1000:.1f} ms,"
            f" CPU per /plan {per[name]:.2f} ms"
            for name, t in times.items()
        ),
        "",
        COMPARISON_HEADER,
        Comparison(
            "CPU per /plan, PostgreSQL (planner + server) vs SQLite (planner)",
            per["postgresql"],
            per["sqlite"],
            "ms",
            1.5,
        ).row(),
        Comparison(
            "/plan p50, PostgreSQL vs SQLite",
            percentile(times["postgresql"], 50) * 1000,
            percentile(times["sqlite"], 50) * 1000,
            "ms",
            1.2,
        ).row(),
    ]
    return lines


def nginx_front(
    planners: list[PlannerClient], workdir: Path
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    base = Service("planner", [], {"AGENT_PLANNER_PORT": port}, {})
    copies = [
        Service(f"planner-{n}", [], {"AGENT_PLANNER_PORT": p.http_port}, {})
        for n, p in enumerate(planners, 1)
    ]
    prefix = workdir / f"nginx-{len(planners)}"
    (prefix / "temp").mkdir(parents=True)
    (prefix / "temp").chmod(0o777)
    config = prefix / "nginx.conf"
    config.write_text(nginx_config([(base, copies)], prefix))
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(config), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, port


async def load(url: str, headers: dict[str, str], concurrency: int, seconds: float) -> int:
    done = 0
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, headers=headers, limits=limits) as http:
        deadline = time.perf_counter() + seconds

        async def client(n: int) -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                body = {"prompt": PROMPT, "session_id": f"load-{n}"}
                reply = await http.post(f"{url}/plan", json=body)
                done += reply.status_code == 200

        await asyncio.gather(*(client(n) for n in range(concurrency)))
    return done


def throughput(
    stack: CoreStack,
    planners: list[PlannerClient],
    pg_pids: list[int],
    workdir: Path,
    concurrency: int,
    seconds: float,
) -> tuple[float, dict[str, float]]:
    nginx, port = nginx_front(planners, workdir)
    try:
        url = f"http://127.0.0.1:{port}"
        asyncio.run(load(url, planners[0].headers(), concurrency, 2))  # warm up
        roles = {
            "planners": [p.process.pid for p in planners],
            "memory": [stack.memory.pid],
            "gateway": [stack["gateway"].pid],
            "postgresql": pg_pids,
            "nginx": [nginx.pid],
        }
        before = {role: cpu_seconds(pids) for role, pids in roles.items()}
        started = time.perf_counter()
        done = asyncio.run(load(url, planners[0].headers(), concurrency, seconds))
        elapsed = time.perf_counter() - started
        split = {
            role: (cpu_seconds(pids) - before[role]) / max(1, done) * 1000
            for role, pids in roles.items()
        }
    finally:
        nginx.terminate()
        nginx.wait(10)
    return done / elapsed, split


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    cluster = PostgresCluster.create().start()
    started: list[ServiceProcess] = []
    try:
        with running_core_stack() as stack, tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            pg_pids = postmaster_pids(cluster)
            url = cluster.create_database()

            def planner_on_postgres(n: int) -> PlannerClient:
                port = free_port()
                proc = planner_process(
                    workdir / f"pg-{n}", port, **stack.planner_env(DATABASE_URL=url)
                )
                started.append(proc.start())
                return PlannerClient(proc, port, stack.api_key)

            pg_planners = [planner_on_postgres(n) for n in range(3)]
            print(
                "\n".join(backend_comparison(stack.planner, pg_planners[0], pg_pids, args.samples))
            )
            print(
                f"\nthroughput through nginx at concurrency {args.concurrency}, "
                f"{args.seconds:g} s each (CPU per /plan in ms, by role)"
            )
            results = {}
            for count in (1, 3):
                rate, split = throughput(
                    stack, pg_planners[:count], pg_pids, workdir, args.concurrency, args.seconds
                )
                results[count] = rate
                roles = ", ".join(f"{role} {ms:.2f}" for role, ms in split.items())
                print(f"{count} planner(s): {rate:.1f} /plan per s; CPU: {roles}")
            gain = results[3] / results[1] if results[1] else float("nan")
            print(f"throughput, 3 planners over 1: {gain:.2f}x (higher is better)")
    finally:
        for proc in reversed(started):
            proc.stop()
        cluster.remove()


if __name__ == "__main__":
    main()
