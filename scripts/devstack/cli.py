"""The command line of scripts/run_all_dev.py."""

from __future__ import annotations

import argparse
import signal
import sys

from scripts.devstack.catalogue import PROFILES
from scripts.devstack.console import Console
from scripts.devstack.errors import RunnerError
from scripts.devstack.pidfile import refuse_if_running, stop_previous_run
from scripts.devstack.plan import check_ports_free, plan_services
from scripts.devstack.runner import Runner


def parse_args(argv: list[str] | None, description: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--profile", choices=tuple(PROFILES), help="which stack to run (default: core)"
    )
    parser.add_argument("--stop", action="store_true", help="stop the run recorded in .pids.json")
    parser.add_argument(
        "--ready-timeout", type=float, default=180.0, help="seconds each service may take to start"
    )
    parser.add_argument(
        "--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="write service output to logs/ only, not the console"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, description: str | None = None) -> int:
    args = parse_args(argv, description)
    console = Console(sys.stdout, args.quiet)
    if args.stop:
        return stop_previous_run(args.grace, console, args.profile)
    try:
        refuse_if_running(console)
        profile = args.profile or "core"
        services = plan_services(profile, console)
        check_ports_free(services)
    except RunnerError as exc:
        console.warn(str(exc))
        return 1
    runner = Runner(profile, services, console, args.ready_timeout, args.grace)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: runner.stop_signal.set())
    return runner.run()
