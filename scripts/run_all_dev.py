#!/usr/bin/env python3
"""Run the PAGI stack on this machine, one process per service, in the foreground.

    python scripts/run_all_dev.py --profile core      # memory, sandbox, gateway, planner, notifier
    python scripts/run_all_dev.py --profile legacy    # sandbox, memory, gateway, demo agent, BFF
    python scripts/run_all_dev.py --stop              # stop the run recorded in .pids.json

Every path is relative to the working directory: service output goes to logs/<service>.log
(and, prefixed, to the console) and the running processes are recorded in .pids.json.
Ports and addresses come from the same variables the services read (environment first,
then .env). Ctrl-C or SIGTERM stops everything this runner started.

Standard library only, except the gateway's readiness check, which needs grpcio: run it
with the project's virtualenv python (as `make run-dev` does).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

REPO_ROOT = Path(__file__).resolve().parents[1]
PIDS_FILE = Path(".pids.json")
LOG_DIR = Path("logs")
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}
NOTIFIER_SETTLE_SECONDS = 1.0
TRACE_NAMES = {
    "memory": "memory-service",
    "sandbox": "rust-sandbox",
    "gateway": "model-gateway",
    "planner": "agent-planner",
    "notifier": "notification-service",
    "demo_agent": "demo-agent",
    "bff": "bff",
}

Check = Callable[[], bool]


class RunnerError(Exception):
    """A problem the user must fix; the message says what and how."""


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments, blank lines and `export ` ignored)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def stack_environment() -> dict[str, str]:
    """The environment every service gets: .env values, overridden by the real environment."""
    env = read_dotenv(Path(".env"))
    env.update(os.environ)
    env.setdefault("LLM_PROVIDER", "mock")
    env["PYTHONUNBUFFERED"] = "1"
    paths = [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def port_from(env: dict[str, str], *names: str, default: int) -> int:
    """The first of `names` that is set (aliases after the main name), else `default`."""
    for name in names:
        raw = env.get(name, "").strip()
        if raw:
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise RunnerError(f"{name} must be a port number 1-65535 (got {raw!r})")
            return int(raw)
    return default


@dataclass(frozen=True)
class Ports:
    planner: int
    gateway_grpc: int
    gateway_http: int
    memory_http: int
    memory_grpc: int
    sandbox_http: int
    sandbox_grpc: int
    bff: int
    demo_agent: int

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Ports:
        return cls(
            planner=port_from(env, "AGENT_PLANNER_PORT", default=8585),
            gateway_grpc=port_from(env, "MODEL_GATEWAY_GRPC_PORT", default=50051),
            gateway_http=port_from(env, "MODEL_GATEWAY_HTTP_PORT", default=8005),
            memory_http=port_from(env, "MEMORY_PORT", default=8003),
            memory_grpc=port_from(env, "MEMORY_GRPC_PORT", default=50052),
            sandbox_http=port_from(env, "RUST_SANDBOX_PORT", "SANDBOX_PORT", default=8001),
            sandbox_grpc=port_from(
                env, "RUST_SANDBOX_GRPC_PORT", "SANDBOX_GRPC_PORT", default=50053
            ),
            bff=port_from(env, "GO_BFF_PORT", default=8002),
            demo_agent=port_from(env, "PY_AGENT_PORT", default=8000),
        )


def link_addresses(env: dict[str, str], ports: Ports) -> None:
    """Point every client at the ports chosen for its server, unless set explicitly."""
    derived = {
        "MODEL_GATEWAY_ADDR": f"localhost:{ports.gateway_grpc}",
        "MEMORY_GRPC_ADDR": f"localhost:{ports.memory_grpc}",
        "RAG_GRPC_ADDR": f"localhost:{ports.memory_grpc}",
        "MEMORY_URL": f"http://localhost:{ports.memory_http}",
        "RUST_SANDBOX_GRPC_ADDR": f"localhost:{ports.sandbox_grpc}",
        "RUST_SANDBOX_URL": f"http://localhost:{ports.sandbox_http}",
        "PY_AGENT_URL": f"http://localhost:{ports.demo_agent}",
        "GO_BFF_URL": f"http://localhost:{ports.bff}",
        "MODEL_GATEWAY_GRPC_HOST": "localhost",
    }
    for name, value in derived.items():
        if not env.get(name, "").strip():
            env[name] = value


def http_health(port: int, path: str = "/health") -> Check:
    def check() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as reply:
                return int(reply.status) == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    return check


def grpc_health(port: int, env: dict[str, str]) -> Check:
    """grpc.health.v1 Check answering SERVING; uses the client mTLS files when set."""
    try:
        from services.kit.errors import ConfigError
        from services.kit.health_probe import client_credentials_from, grpc_serving
    except ImportError as exc:
        raise RunnerError(
            f"the gRPC health check needs the project installed ({exc}); run this script "
            "with the project's virtualenv python, e.g. .venv/bin/python scripts/run_all_dev.py"
        ) from None
    try:
        credentials = client_credentials_from(env)
    except (ConfigError, OSError) as exc:
        raise RunnerError(f"cannot use the client TLS files: {exc}") from None
    server_name = env.get("TLS_SERVER_NAME", "").strip()
    return lambda: grpc_serving(f"localhost:{port}", credentials, server_name, timeout=2)


def redis_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host or "127.0.0.1", port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def split_redis_addr(addr: str) -> tuple[str, int]:
    rest = addr.strip().split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, _, port = rest.rpartition(":")
    if not port.isdigit():
        raise RunnerError(f"REDIS_ADDR must be host:port (got {addr!r})")
    return host.strip("[]") or "localhost", int(port)


@dataclass
class Service:
    name: str
    argv: list[str]
    ports: dict[str, int]
    env: dict[str, str]
    ready_check: Check | None = None  # None: ready once alive for a moment (the notifier)
    after: tuple[str, ...] = ()
    ready_marker: str = ""
    proc: subprocess.Popen[bytes] | None = None
    state: str = "waiting"  # waiting, starting, ready, failed, stopped
    started_at: float = 0.0
    ready_after: float = 0.0

    @property
    def log_path(self) -> Path:
        return LOG_DIR / f"{self.name}.log"


def python_service(
    name: str,
    module: str,
    env: dict[str, str],
    ports: dict[str, int],
    ready_check: Check | None,
    after: tuple[str, ...] = (),
) -> Service:
    own_env = dict(env)
    # Span names per service as in the compose stack, unless the user chose one.
    own_env.setdefault("OTEL_SERVICE_NAME", TRACE_NAMES.get(name, name))
    argv = [sys.executable, "-m", f"services.{module}"]
    return Service(name, argv, ports, own_env, ready_check, after)


def memory_service(env: dict[str, str], ports: Ports) -> Service:
    return python_service(
        "memory",
        "memory",
        env,
        {"MEMORY_PORT": ports.memory_http, "MEMORY_GRPC_PORT": ports.memory_grpc},
        http_health(ports.memory_http),
    )


def sandbox_service(env: dict[str, str], ports: Ports) -> Service:
    return python_service(
        "sandbox",
        "sandbox",
        env,
        {"RUST_SANDBOX_PORT": ports.sandbox_http, "RUST_SANDBOX_GRPC_PORT": ports.sandbox_grpc},
        http_health(ports.sandbox_http),
    )


def gateway_service(env: dict[str, str], ports: Ports) -> Service:
    return python_service(
        "gateway",
        "model_gateway",
        env,
        {
            "MODEL_GATEWAY_GRPC_PORT": ports.gateway_grpc,
            "MODEL_GATEWAY_HTTP_PORT": ports.gateway_http,
        },
        grpc_health(ports.gateway_grpc, env),
    )


def core_services(env: dict[str, str], ports: Ports, notifications: bool) -> list[Service]:
    planner = python_service(
        "planner",
        "agent_planner",
        env,
        {"AGENT_PLANNER_PORT": ports.planner},
        http_health(ports.planner),
        after=("memory", "sandbox", "gateway"),
    )
    services = [
        memory_service(env, ports),
        sandbox_service(env, ports),
        gateway_service(env, ports),
        planner,
    ]
    if notifications:
        notifier = python_service("notifier", "notifier", env, {}, None)
        notifier.ready_marker = '"subscribed"'
        services.append(notifier)
    return services


def legacy_services(env: dict[str, str], ports: Ports) -> list[Service]:
    demo_agent = python_service(
        "demo_agent",
        "demo_agent",
        env,
        {"PY_AGENT_PORT": ports.demo_agent},
        http_health(ports.demo_agent),
        after=("memory", "gateway"),
    )
    bff = python_service("bff", "bff", env, {"GO_BFF_PORT": ports.bff}, http_health(ports.bff))
    return [
        sandbox_service(env, ports),
        memory_service(env, ports),
        gateway_service(env, ports),
        demo_agent,
        bff,
    ]


class NoRedis(Exception):
    """No Redis answers and none can be started: run without notifications."""


def redis_service(host: str, port: int, console: Console) -> Service | None:
    """None when a Redis answers at REDIS_ADDR, else a local redis-server to start.

    Raises NoRedis when neither is possible (no binary, or the address is another machine).
    """
    if redis_answers(host, port):
        console.note(f"using the Redis at {host}:{port}")
        return None
    binary = shutil.which("redis-server")
    if binary is None or host not in LOCAL_HOSTS:
        reason = (
            "redis-server is not installed"
            if binary is None
            else f"{host} is not this machine, so no local redis-server is started"
        )
        raise NoRedis(f"no Redis answers at {host}:{port} and {reason}")
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(LOG_DIR.resolve())]
    return Service(
        "redis",
        argv,
        {"REDIS_ADDR": port},
        dict(os.environ),
        lambda: redis_answers("127.0.0.1", port),
    )


def endpoint(variable: str, port: int) -> str:
    """How a user reaches a port: http://... for HTTP, host:port for gRPC and Redis."""
    if variable == "REDIS_ADDR":
        return f"redis localhost:{port}"
    if "GRPC" in variable:
        return f"grpc localhost:{port}"
    return f"http://localhost:{port}"


COLOURS = ("36", "32", "35", "33", "34", "96", "92")


class Console:
    """Prefixed service output plus a live status line when stdout is a terminal."""

    def __init__(self, stream: TextIO, quiet: bool) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.quiet = quiet
        self.lock = threading.Lock()
        self.status = ""
        self.width = len("demo_agent")  # the longest service name

    def _write(self, text: str) -> None:
        with self.lock:
            if self.live and self.status:
                self.stream.write("\r\033[2K")
            self.stream.write(text)
            if self.live and self.status:
                self.stream.write(self.status)
            self.stream.flush()

    def note(self, message: str) -> None:
        self._write(f"[runner] {message}\n")

    def warn(self, message: str) -> None:
        prefix = "\033[1;33m[runner] WARNING:\033[0m" if self.live else "[runner] WARNING:"
        self._write(f"{prefix} {message}\n")

    def service_line(self, index: int, name: str, line: str) -> None:
        if self.quiet:
            return
        label = name.ljust(self.width)
        if self.live:
            label = f"\033[{COLOURS[index % len(COLOURS)]}m{label}\033[0m"
        self._write(f"{label} | {line}\n")

    def show_status(self, text: str) -> None:
        if not self.live:
            return
        with self.lock:
            self.status = text
            self.stream.write("\r\033[2K" + text)
            self.stream.flush()

    def clear_status(self) -> None:
        if self.live and self.status:
            with self.lock:
                self.stream.write("\r\033[2K")
                self.stream.flush()
                self.status = ""


class LogFollower:
    """Copies new lines of every service's log file to the console."""

    def __init__(self, services: list[Service], console: Console) -> None:
        self.services = services
        self.console = console
        self.offsets: dict[str, int] = {}
        self.partial: dict[str, bytes] = {}

    def poll(self) -> None:
        for index, service in enumerate(self.services):
            if service.proc is None:
                continue
            for line in self._new_lines(service):
                self.console.service_line(index, service.name, line)

    def _new_lines(self, service: Service) -> list[str]:
        try:
            with service.log_path.open("rb") as handle:
                handle.seek(self.offsets.get(service.name, 0))
                chunk = handle.read(1 << 20)
        except OSError:
            return []
        self.offsets[service.name] = self.offsets.get(service.name, 0) + len(chunk)
        data = self.partial.pop(service.name, b"") + chunk
        *lines, rest = data.split(b"\n")
        if rest:
            self.partial[service.name] = rest
        return [line.decode("utf-8", "replace").rstrip("\r") for line in lines]


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def process_start_time(pid: int) -> str:
    """The kernel's start time of pid (guards against pid reuse); empty where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def pid_alive(pid: int, started: str = "") -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not started:
        return True
    current = process_start_time(pid)
    return not current or current == started


def write_pids(profile: str, services: list[Service], started_at: float) -> None:
    launched = [s for s in services if s.proc is not None]
    record = {
        "profile": profile,
        "runner_pid": os.getpid(),
        "runner_start": process_start_time(os.getpid()),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_at)),
        "pids": {s.name: s.proc.pid for s in launched if s.proc},
        "starts": {s.name: process_start_time(s.proc.pid) for s in launched if s.proc},
        "ports": {s.name: s.ports for s in launched},
        "logs": str(LOG_DIR.resolve()),
    }
    temporary = PIDS_FILE.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n")
    temporary.replace(PIDS_FILE)


def read_pids() -> dict[str, Any] | None:
    try:
        record = json.loads(PIDS_FILE.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise RunnerError(f"{PIDS_FILE} is unreadable ({exc}); remove it by hand") from None
    return record if isinstance(record, dict) else None


def live_processes(record: dict[str, Any]) -> dict[str, int]:
    """Name -> pid of every recorded process (runner included) that still runs."""
    starts = record.get("starts", {})
    alive = {
        name: int(pid)
        for name, pid in record.get("pids", {}).items()
        if pid_alive(int(pid), starts.get(name, ""))
    }
    runner = record.get("runner_pid")
    if (
        runner
        and int(runner) != os.getpid()
        and pid_alive(int(runner), record.get("runner_start", ""))
    ):
        alive["runner"] = int(runner)
    return alive


def signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Waits until the pids exit (reaping our own children); returns those still alive."""
    remaining = list(pids)
    deadline = time.monotonic() + timeout
    while remaining and time.monotonic() < deadline:
        for pid in list(remaining):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not pid_alive(pid):
                remaining.remove(pid)
        if remaining:
            time.sleep(0.1)
    return remaining


def stop_groups(pids: list[tuple[str, int]], grace: float, console: Console) -> None:
    """SIGTERM each process group (in the given order), SIGKILL what outlives the grace."""
    for _, pid in pids:
        signal_group(pid, signal.SIGTERM)
    stubborn = wait_gone([pid for _, pid in pids], grace)
    for name, pid in pids:
        if pid in stubborn:
            console.warn(f"{name} (pid {pid}) ignored SIGTERM for {grace:g} s; killing it")
            signal_group(pid, signal.SIGKILL)
    wait_gone(stubborn, 5)
    for _, pid in pids:  # anything a service left behind in its group
        signal_group(pid, signal.SIGKILL)


def stop_previous_run(grace: float, console: Console, profile: str | None) -> int:
    record = read_pids()
    if record is None:
        console.note(f"no run recorded in {PIDS_FILE}; nothing to stop")
        return 0
    if profile and record.get("profile") != profile:
        console.note(f"the recorded run is the {record.get('profile')} profile; stopping it")
    alive = live_processes(record)
    runner = alive.pop("runner", None)
    if runner is not None:
        console.note(f"asking the runner (pid {runner}) to stop its {record.get('profile')} stack")
        with contextlib.suppress(ProcessLookupError):
            os.kill(runner, signal.SIGTERM)
        if wait_gone([runner], grace * 2 + 10):
            console.warn(f"the runner (pid {runner}) did not exit; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.kill(runner, signal.SIGKILL)
        alive = {k: v for k, v in live_processes(record).items() if k != "runner"}
    if alive:
        console.note("stopping " + ", ".join(f"{n} (pid {p})" for n, p in alive.items()))
        stop_groups(list(reversed(list(alive.items()))), grace, console)
    PIDS_FILE.unlink(missing_ok=True)
    console.note(
        f"stopped the {record.get('profile', '?')} run started at {record.get('started_at')}"
    )
    return 0


class StopRequested(Exception):
    """Ctrl-C, SIGTERM or SIGHUP arrived while the stack was starting."""


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
            self.console.show_status(self._status_text(time.monotonic() - clock))
            self.stop_signal.wait(0.2)
        self.console.clear_status()

    def _deps_ready(self, service: Service) -> bool:
        states = {s.name: s.state for s in self.services}
        return all(states.get(dep, "ready") == "ready" for dep in service.after)

    def _launch(self, service: Service) -> None:
        with service.log_path.open("wb") as log:
            service.proc = subprocess.Popen(
                service.argv,
                env=service.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
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
            if marked or elapsed >= NOTIFIER_SETTLE_SECONDS:
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

    def _status_text(self, elapsed: float) -> str:
        """One line: what is ready, what is starting (and for how long), what waits."""
        now = time.monotonic()
        groups: dict[str, list[str]] = {"ready": [], "starting": [], "waiting": []}
        for service in self.services:
            label = service.name
            if service.state == "starting":
                label += f" {now - service.started_at:.0f}s"
            groups.setdefault(service.state, []).append(label)
        parts = [f"{state}: {', '.join(names)}" for state, names in groups.items() if names]
        line = f"[{elapsed:5.1f}s] " + " | ".join(parts)
        width = shutil.get_terminal_size((100, 20)).columns - 1
        return line if len(line) <= width else line[: max(width - 3, 10)] + "..."

    def _announce_ready(self) -> None:
        took = time.time() - self.started_at
        self.console.note(f"{self.profile} stack ready in {took:.1f} s")
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
                if code is not None:
                    self.console.warn(
                        f"{service.name} exited unexpectedly with code {code}; last lines of "
                        f"{service.log_path}:\n{log_tail(service.log_path)}\n"
                        "[runner] stopping the rest of the stack"
                    )
                    return 1
        self.console.note("stop requested")
        return 0

    def stop_all(self) -> None:
        launched = [(s.name, s.proc.pid) for s in reversed(self.services) if s.proc is not None]
        running = [(n, p) for n, p in launched if pid_alive(p)]
        if running:
            self.console.note("stopping " + ", ".join(name for name, _ in running))
        # Dependents first: the planner and notifier before the services they call.
        for tier in self._tiers(running):
            stop_groups(tier, self.grace, self.console)
        for service in self.services:
            if service.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    service.proc.wait(1)
                service.state = "stopped"
        PIDS_FILE.unlink(missing_ok=True)
        busy = [port for s in self.services for port in s.ports.values() if port_in_use(port)]
        if busy:
            self.console.warn(f"ports still answering after stop: {busy}")

    def _tiers(self, running: list[tuple[str, int]]) -> list[list[tuple[str, int]]]:
        dependents = {"planner", "notifier", "demo_agent", "bff"}
        first = [(n, p) for n, p in running if n in dependents]
        rest = [(n, p) for n, p in running if n not in dependents]
        return [tier for tier in (first, rest) if tier]


def refuse_if_running(console: Console) -> None:
    record = read_pids()
    if record is None:
        return
    alive = live_processes(record)
    if alive:
        who = ", ".join(f"{name} (pid {pid})" for name, pid in alive.items())
        raise RunnerError(
            f"a {record.get('profile', '?')} run started at {record.get('started_at')} is still "
            f"active: {who}. Stop it first with `python scripts/run_all_dev.py --stop` "
            "(or Ctrl-C in its terminal)."
        )
    console.note(f"removing the stale {PIDS_FILE} of a run that is no longer alive")
    PIDS_FILE.unlink(missing_ok=True)


def check_ports_free(services: list[Service]) -> None:
    for service in services:
        for name, port in service.ports.items():
            if port_in_use(port):
                raise RunnerError(
                    f"port {port} ({name}, needed by {service.name}) is already in use by "
                    f"another process; stop it or choose another port with {name}=<port>"
                )


def plan_services(profile: str, console: Console) -> list[Service]:
    env = stack_environment()
    ports = Ports.from_env(env)
    link_addresses(env, ports)
    if profile == "legacy":
        return legacy_services(env, ports)
    host, port = split_redis_addr(env.get("REDIS_ADDR", "") or "localhost:6379")
    try:
        redis = redis_service(host, port, console)
    except NoRedis as exc:
        console.warn(
            f"{exc}: notifications are OFF. The planner still answers /plan; the notifier "
            "is not started. Install redis-server or set REDIS_ADDR to a running Redis."
        )
        return core_services(env, ports, notifications=False)
    services = core_services(env, ports, notifications=True)
    if redis is not None:
        console.note(f"no Redis answers at {host}:{port}; starting a local redis-server")
        for service in services:
            if service.name in ("planner", "notifier"):
                service.after = (*service.after, "redis")
        services.insert(0, redis)
    return services


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--profile", choices=("core", "legacy"), help="which stack to run (default: core)"
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
