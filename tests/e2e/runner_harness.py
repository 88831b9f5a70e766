"""Drive scripts/run_all_dev.py the way a user does: a subprocess in its own working
directory, every port moved to a free one through the variables the services read."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.processes import ROOT, base_env, free_port

RUNNER = ROOT / "scripts" / "run_all_dev.py"
VERIFY = ROOT / "scripts" / "verify_e2e_audit.sh"
HEALTHCHECK = ROOT / "observability" / "healthcheck.py"
READY_TIMEOUT = 300.0


def stack_ports() -> dict[str, str]:
    """A free port for every listening socket of both profiles (and Redis)."""
    names = [
        "AGENT_PLANNER_PORT",
        "MODEL_GATEWAY_GRPC_PORT",
        "MODEL_GATEWAY_HTTP_PORT",
        "MEMORY_PORT",
        "MEMORY_GRPC_PORT",
        "RUST_SANDBOX_PORT",
        "RUST_SANDBOX_GRPC_PORT",
        "GO_BFF_PORT",
        "PY_AGENT_PORT",
    ]
    ports: set[int] = set()
    while len(ports) < len(names) + 1:
        ports.add(free_port())
    chosen = dict(zip(names, map(str, sorted(ports)), strict=False))
    chosen["REDIS_ADDR"] = f"localhost:{max(ports)}"
    return chosen


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def process_alive(pid: int) -> bool:
    """True for a running process (a zombie awaiting its parent counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@dataclass
class RunnerRun:
    """One `run_all_dev.py` process; its console output is kept in workdir/runner.out."""

    workdir: Path
    env: dict[str, str]
    args: list[str] = field(default_factory=lambda: ["--profile", "core"])
    proc: subprocess.Popen[bytes] | None = None

    @property
    def output_path(self) -> Path:
        return self.workdir / "runner.out"

    def start(self) -> RunnerRun:
        with self.output_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(RUNNER), *self.args],
                cwd=self.workdir,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> RunnerRun:
        deadline = time.monotonic() + timeout
        assert self.proc is not None
        while time.monotonic() < deadline:
            if "stack ready in" in self.output():
                return self
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"runner exited with {self.proc.returncode}:\n{self.output()[-6000:]}"
                )
            time.sleep(0.3)
        raise AssertionError(f"stack not ready after {timeout}s:\n{self.output()[-6000:]}")

    def wait_exit(self, timeout: float = 60) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"runner still running after {timeout}s:\n{self.output()[-4000:]}"
            ) from None

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def pids_record(self) -> dict[str, Any]:
        return dict(json.loads((self.workdir / ".pids.json").read_text()))

    def port(self, name: str) -> int:
        return int(self.env[name])

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port(name)}"

    def all_ports(self) -> list[int]:
        ports = [int(v) for k, v in self.env.items() if k.endswith("_PORT") and v.isdigit()]
        return [*ports, int(self.env["REDIS_ADDR"].rsplit(":", 1)[1])]

    def force_cleanup(self, pids: list[int]) -> None:
        """Last resort after a failed test: leave nothing running."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


def runner_env(workdir: Path, **extra: str) -> dict[str, str]:
    env = base_env(**stack_ports())
    env.pop("PYTHONPATH", None)  # the runner must find the services by itself
    env.pop("GLIBC_TUNABLES", None)  # and give them their malloc settings
    env.update(extra)
    return env


def run_runner_once(
    workdir: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUNNER), *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def post_json(
    url: str, body: dict[str, Any], headers: dict[str, str] | None = None, timeout: float = 90
) -> tuple[int, dict[str, str], Any]:
    """A plain HTTP POST, like curl -d; returns status, headers and the decoded JSON body."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, lower_keys(reply.headers), json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, lower_keys(exc.headers), json.loads(exc.read() or b"null")


def get_json(url: str, timeout: float = 30) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def run_verify(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(VERIFY), *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_all_gone(pids: dict[str, int], ports: list[int], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = {name: pid for name, pid in pids.items() if process_alive(pid)}
        busy = [port for port in ports if listening(port)]
        if not alive and not busy:
            return
        time.sleep(0.2)
    raise AssertionError(f"left behind: processes {alive}, listening ports {busy}")


def lower_keys(headers: Any) -> dict[str, str]:
    return {str(key).lower(): str(value) for key, value in headers.items()}


def container_healthcheck(kind: str, port: int, env: dict[str, str] | None = None) -> int:
    """Exit code of the compose health probe, run the way the containers run it."""
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), kind, str(port)],
        env={**base_env(), **(env or {})},
        capture_output=True,
        timeout=30,
        check=False,
    ).returncode
