"""Run every benchmark (plan, memory, sandbox, gateway, runs, scale), print the figures, and
append them with a description of the machine to bench/RESULTS.md. Figures are reported,
never asserted.

    python -m bench.run_all                 # full run (`make bench`)
    python -m bench.run_all --quick         # short runs, for checking the benches work
    python -m bench.run_all --only plan     # plan, memory, sandbox, gateway, runs or scale
    python -m bench.run_all --compare-with ../old-checkout   # plus /plan throughput against
                                                             # another tree's stack
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bench import plan_bench
from bench.machine import describe_machine, load_average

BENCH_DIR = Path(__file__).resolve().parent

RESULTS = BENCH_DIR / "RESULTS.md"
RESULTS_INTRO = (
    "# Benchmark results\n\n"
    "Appended by `make bench` (`python -m bench.run_all`). Each figure is printed next to a\n"
    "floor measured in the same run on the same machine, and their ratio.\n"
)
SCRIPT_BENCHES = {
    "memory": "memory_bench",
    "sandbox": "sandbox_bench",
    "gateway": "gateway_bench",
    "runs": "runs_bench",
    "scale": "scale_bench",
}
QUICK_ARGS = {
    "plan": ["--seconds", "5", "--samples", "20"],
    "memory": ["--samples", "20", "--documents", "40"],
    "sandbox": ["--samples", "10"],
    "gateway": ["--rounds", "2", "--per-round", "32", "--cpu-calls", "600"],
    "runs": ["--samples", "5", "--phase-seconds", "2", "--phases", "1"],
    "scale": ["--samples", "20", "--seconds", "5"],
}
SCRIPT_TIMEOUT_SECONDS = 1800


def run_script(name: str, extra: list[str]) -> list[str]:
    """Run bench.<name>_bench as its own process; its output becomes the section."""
    module = SCRIPT_BENCHES[name]
    print(f"\n== {name} ({module}) ==", flush=True)
    try:
        done = subprocess.run(
            [sys.executable, "-m", f"bench.{module}", *extra],
            cwd=BENCH_DIR.parent,
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT_SECONDS,
            check=False,
        )
        output, failed = done.stdout.strip(), done.returncode != 0
        if failed:
            output += f"\n[exited with {done.returncode}]\n{done.stderr.strip()[-2000:]}"
    except subprocess.TimeoutExpired:
        output, failed = f"[stopped after {SCRIPT_TIMEOUT_SECONDS} s]", True
    print(output, flush=True)
    status = " (FAILED)" if failed else ""
    return [f"### {name} ({module}){status}", "", "```", output, "```", ""]


def run_plan(extra: list[str], compare_with: str | None) -> list[str]:
    print("\n== plan (plan_bench) ==", flush=True)
    lines = plan_bench.main(extra)
    if compare_with:
        print(f"\n== plan throughput against {compare_with} ==", flush=True)
        lines += plan_bench.main([*extra, "--compare-with", compare_with, "--concurrency", "32"])
    return lines


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (not for RESULTS)")
    parser.add_argument(
        "--only", default="plan,memory,sandbox,gateway,runs", help="comma-separated benches to run"
    )
    parser.add_argument("--no-record", action="store_true", help="print only; do not append")
    parser.add_argument(
        "--compare-with", help="another checkout: /plan throughput of its stack against ours"
    )
    return parser.parse_args()


def append_results(lines: list[str]) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else RESULTS_INTRO
    RESULTS.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines).rstrip("\n") + "\n")
    print(f"\nappended to {RESULTS}")


def main() -> int:
    args = parse_args()
    names = [name.strip() for name in args.only.split(",") if name.strip()]
    machine = describe_machine()
    print(f"machine: {machine}", flush=True)
    started = time.monotonic()
    mode = " (quick)" if args.quick else ""
    lines = [f"## Run of {machine.split(';')[0]}{mode}", "", f"Machine: {machine}", ""]
    for name in names:
        extra = QUICK_ARGS.get(name, []) if args.quick else []
        if name == "plan":
            lines += run_plan(extra, args.compare_with)
        else:
            lines += run_script(name, extra)
    elapsed = time.monotonic() - started
    lines.append(f"Total bench time: {elapsed:.0f} s; {load_average()} at the end.")
    if not args.no_record:
        append_results(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
