"""Starting a planned stack in dependency order, watching it, and stopping all of it."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field

from scripts.devstack.console import Console, LogFollower, endpoint, log_tail, status_line
from scripts.devstack.errors import RunnerError, StopRequested
from scripts.devstack.pidfile import PIDS_FILE, write_pids
from scripts.devstack.plan import stop_tiers
from scripts.devstack.probes import port_in_use
from scripts.devstack.process_group import launch_in_group, pid_alive, stop_groups
from scripts.devstack.service import LOG_DIR, Service

# A service without a probe or marker counts as ready once it has lived this long.
SETTLE_SECONDS = 1.0


@dataclass
class Runner:
    profile: str
    services: list[Service]
    console: Console
    ready_timeout: float
    grace: float
    started_at: float = field(default_factory=time.time)
    stop_signal: threading.Event = field(default_factory=threading.Event)

    def run(self) -> int:
        follower = LogFollower(self.services, self.console)
        try:
            self._start_all(follower)
            self._announce_ready()
            return self._watch(follower)
        except StopRequested:
            self.console.clear_status()
            self.console.note("stop requested")
            return 0
        except RunnerError as exc:
            follower.poll()
            self.console.clear_status()
            self.console.warn(str(exc))
            return 1
        finally:
            follower.poll()
            self.console.clear_status()
            self.stop_all()
            follower.poll()
            self.console.note("all services stopped")

    def _start_all(self, follower: LogFollower) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        clock = time.monotonic()
        while not all(s.state == "ready" for s in self.services):
            if self.stop_signal.is_set():
                raise StopRequested
            for service in self.services:
                if service.state == "waiting" and self._deps_ready(service):
                    self._launch(service)
                elif service.state == "starting":
                    self._advance(service)
            follower.poll()
            width = shutil.get_terminal_size((100, 20)).columns - 1
            now = time.monotonic()
            self.console.show_status(status_line(self.services, now - clock, now, width))
            self.stop_signal.wait(0.2)
        self.console.clear_status()

    def _deps_ready(self, service: Service) -> bool:
        # A dependency this run does not start (a Redis already running) counts as ready.
        states = {s.name: s.state for s in self.services}
        return all(states.get(dep, "ready") == "ready" for dep in service.after)

    def _launch(self, service: Service) -> None:
        service.proc = launch_in_group(service.argv, service.env, service.log_path)
        service.state = "starting"
        service.started_at = time.monotonic()
        write_pids(self.profile, self.services, self.started_at)
        ports = ", ".join(f"{k}={v}" for k, v in service.ports.items())
        self.console.note(
            f"{service.name}: starting (pid {service.proc.pid}{'; ' + ports if ports else ''})"
        )
        if service.ready_check is not None:
            threading.Thread(target=self._probe, args=(service,), daemon=True).start()

    def _probe(self, service: Service) -> None:
        """Polls the health check in a thread, so a slow check never freezes the display."""
        assert service.ready_check is not None
        while service.state == "starting" and not self.stop_signal.is_set():
            if service.ready_check():
                service.ready_after = time.monotonic() - service.started_at
                return
            time.sleep(0.3)

    def _advance(self, service: Service) -> None:
        assert service.proc is not None
        elapsed = time.monotonic() - service.started_at
        code = service.proc.poll()
        if code is not None:
            self._fail(service, f"{service.name} exited with code {code} before it was ready")
        if service.ready_check is None:
            marked = service.ready_marker and service.ready_marker in log_tail(service.log_path)
            if marked or elapsed >= SETTLE_SECONDS:
                service.ready_after = elapsed
        if service.ready_after:
            service.state = "ready"
            self.console.note(f"{service.name}: ready after {service.ready_after:.1f} s")
        elif elapsed > self.ready_timeout:
            self._fail(service, f"{service.name} was not ready after {self.ready_timeout:g} s")

    def _fail(self, service: Service, reason: str) -> None:
        service.state = "failed"
        self.console.clear_status()
        raise RunnerError(
            f"{reason}. Last lines of {service.log_path}:\n{log_tail(service.log_path)}\n"
            "[runner] stopping everything that was started"
        )

    def _announce_ready(self) -> None:
        took = time.time() - self.started_at
        self.console.note(f"{self.profile} stack ready in {took:.1f} s")
        console = [
            s.ports["AGENT_PLANNER_PORT"]
            for s in self.services
            if "AGENT_PLANNER_PORT" in s.ports and not s.replica_of
        ]
        if console:
            self.console.note(f"  console    http://localhost:{console[0]}/console")
        for service in self.services:
            pid = service.proc.pid if service.proc else "-"
            where = "  ".join(endpoint(name, port) for name, port in service.ports.items())
            self.console.note(f"  {service.name:<10} pid {pid:<7} {where}")
        self.console.note(
            "logs in logs/<service>.log; Ctrl-C here or `python scripts/run_all_dev.py --stop` "
            "elsewhere stops the stack"
        )

    def _watch(self, follower: LogFollower) -> int:
        while not self.stop_signal.wait(0.25):
            follower.poll()
            for service in self.services:
                code = service.proc.poll() if service.proc else None
                if code is not None and service.state == "ready" and self._others_carry_on(service):
                    service.state = "stopped"
                    self.console.warn(
                        f"{service.name} exited with code {code}; the other replicas of "
                        f"{service.replica_of} carry on (last lines of {service.log_path}:\n"
                        f"{log_tail(service.log_path)})"
                    )
                elif code is not None and service.state != "stopped":
                    self.console.warn(
                        f"{service.name} exited unexpectedly with code {code}; last lines of "
                        f"{service.log_path}:\n{log_tail(service.log_path)}\n"
                        "[runner] stopping the rest of the stack"
                    )
                    return 1
        self.console.note("stop requested")
        return 0

    def _others_carry_on(self, service: Service) -> bool:
        return bool(service.replica_of) and any(
            other.replica_of == service.replica_of
            and other is not service
            and other.proc is not None
            and other.proc.poll() is None
            for other in self.services
        )

    def stop_all(self) -> None:
        """Stops what runs, dependents before what they depend on."""
        launched = {s.name: s.proc.pid for s in self.services if s.proc is not None}
        running = {name: pid for name, pid in launched.items() if pid_alive(pid)}
        if running:
            self.console.note("stopping " + ", ".join(reversed(list(running))))
        for tier in stop_tiers([s for s in self.services if s.name in running]):
            stop_groups([(name, running[name]) for name in tier], self.grace, self.console.warn)
        for service in self.services:
            if service.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    service.proc.wait(1)
                service.state = "stopped"
        PIDS_FILE.unlink(missing_ok=True)
        busy = [port for s in self.services for port in s.ports.values() if port_in_use(port)]
        if busy:
            self.console.warn(f"ports still answering after stop: {busy}")
