"""Start project services and redis-server as real processes on free ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import grpc
import httpx

from scripts.devstack.environment import HUGE_PAGES
from scripts.devstack.probes import redis_answers
from scripts.devstack.process_group import launch_in_group, signal_group
from services.kit.health_probe import grpc_serving
from tests.support.port_owner import group_listens_on

ROOT = Path(__file__).resolve().parents[2]
EMBEDDING_CACHE = ROOT / ".cache" / "embeddings"
LIVE: list[ServiceProcess] = []  # every started process, for log dumps on failure
Readiness = Callable[[], bool]
# Every service under test runs in UTC+05:30 (a POSIX rule, no tz database needed), so a
# timestamp written in local time and labelled UTC is off by hours and fails its test.
NOT_UTC = "IST-5:30"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(**overrides: str) -> dict[str, str]:
    """A minimal environment: nothing of the test runner's own variables leaks in."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
        "GLIBC_TUNABLES": HUGE_PAGES,  # as the dev runner and the image run the services
        # One ONNX export of the embedding model shared by every service the tests start.
        "EMBEDDING_CACHE_DIR": str(EMBEDDING_CACHE),
        "LOG_LEVEL": "INFO",
        "TZ": NOT_UTC,
    }
    env.update(overrides)
    return env


@dataclass(frozen=True)
class PortReadiness:
    """A readiness check of one port: it only counts once the port is the service's own."""

    port: int
    answers: Readiness

    def __call__(self) -> bool:
        return self.answers()


def http_ready(port: int, path: str = "/health") -> Readiness:
    def check() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    return PortReadiness(port, check)


def grpc_ready(port: int, credentials: grpc.ChannelCredentials | None = None) -> Readiness:
    return PortReadiness(port, lambda: grpc_serving(f"localhost:{port}", credentials))


@dataclass
class ServiceProcess:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path
    ready: list[Readiness] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> Self:
        self.proc = launch_in_group(self.argv, self.env, self.log_path, self.cwd, append=True)
        LIVE.append(self)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}"
                )
            if all(check() for check in self.ready):
                self._check_ports_are_its_own()
                return
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {timeout}s:\n{self.tail()}")

    def _check_ports_are_its_own(self) -> None:
        """An answer from another test's service that took our port is not readiness:
        fail clearly here rather than with that service's answers later."""
        for check in self.ready:
            if isinstance(check, PortReadiness) and not group_listens_on(self.pid, check.port):
                raise RuntimeError(
                    f"{self.name}: port {check.port} answers but another process holds it "
                    f"(taken after free_port() chose it):\n{self.tail()}"
                )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM, then SIGKILL of the whole group if it does not exit in time."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        signal_group(self.proc.pid, signal.SIGKILL)
        if self in LIVE:
            LIVE.remove(self)
        return self.proc.returncode

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            signal_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


@contextmanager
def frozen(proc: ServiceProcess) -> Iterator[None]:
    """SIGSTOP proc's process group: its sockets stay open but nothing answers (a hung
    server); SIGCONT when the block ends."""
    signal_group(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        signal_group(proc.pid, signal.SIGCONT)


def exit_at_start_up(
    proc: ServiceProcess, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run proc's command to its end, for a configuration that must stop it at start-up."""
    return subprocess.run(
        proc.argv,
        env=proc.env,
        cwd=proc.cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_refused_at_start_up(proc: ServiceProcess, *named: str) -> str:
    """proc stops at start-up with exit code 2 (a configuration error) and its stderr names
    each of `named`; returns that stderr."""
    result = exit_at_start_up(proc)
    assert result.returncode == 2, f"exit code {result.returncode}:\n{result.stderr[-3000:]}"
    for text in named:
        assert text in result.stderr, f"{text!r} not named in:\n{result.stderr[-3000:]}"
    return result.stderr


def python_service(
    module: str,
    env: dict[str, str],
    workdir: Path,
    ready: list[Readiness],
    args: list[str] | None = None,
) -> ServiceProcess:
    """`python -m services.<module>` in workdir, logging to workdir/<module>.log."""
    return ServiceProcess(
        name=module,
        argv=[sys.executable, "-m", f"services.{module}", *(args or [])],
        env=env,
        cwd=workdir,
        log_path=workdir / f"{module}.log",
        ready=ready,
    )


@dataclass
class RedisProcess(ServiceProcess):
    port: int = 0


def redis_process(workdir: Path, port: int | None = None) -> RedisProcess:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = port or free_port()
    argv = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
    ]
    return RedisProcess(
        "redis",
        argv,
        dict(os.environ),
        workdir,
        workdir / f"redis-{port}.log",
        [lambda: redis_answers("127.0.0.1", port)],
        port=port,
    )
