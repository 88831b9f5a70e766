"""Sandbox overhead: the median latency of a Python "hello" execute_code call through the
running service (gRPC), with every protection the machine allows (bubblewrap, the
per-execution cgroup, the seccomp filter, the tmpfs quota; printed), divided by the median
of a bare `python3 -c pass` subprocess measured in the same run. Target: <= 2.0. Prints
figures; asserts nothing.

    python -m bench.sandbox_bench [--samples 30]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import httpx

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.sandbox.isolation import base_interpreter

ROOT = Path(__file__).resolve().parents[1]

HELLO = json.dumps({"language": "python", "code": "print('hello')"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_service(workdir: str) -> tuple[subprocess.Popen[bytes], int, int]:
    http_port, grpc_port = free_port(), free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(ROOT),
        "RUST_SANDBOX_PORT": str(http_port),
        "RUST_SANDBOX_GRPC_PORT": str(grpc_port),
        "LOG_LEVEL": "WARNING",
    }
    log = open(Path(workdir) / "sandbox.log", "wb")  # noqa: SIM115 - lives as long as the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.sandbox"],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"http://127.0.0.1:{http_port}/health", timeout=2)
            if health.status_code == 200:
                print(f"sandbox isolation: {health.json().get('isolation')}")
                return proc, http_port, grpc_port
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    stop_service(proc)
    raise SystemExit("the sandbox did not become healthy; see " + log.name)


def stop_service(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def applied_protections(stub: pb_grpc.ToolServiceStub) -> str:
    """What confined the hello program, from its own result."""
    request = pb.ToolRequest(tool_name="execute_code", args_json=HELLO, timeout_seconds=10)
    protections = json.loads(stub.ExecuteTool(request, timeout=30).stdout)["protections"]
    names = ("isolation", "memory_limit", "process_limit", "disk_quota", "seccomp")
    return "; ".join(f"{name}: {protections[name]}" for name in names)


def time_sandbox_hello(stub: pb_grpc.ToolServiceStub) -> float:
    request = pb.ToolRequest(tool_name="execute_code", args_json=HELLO, timeout_seconds=10)
    started = time.perf_counter()
    reply = stub.ExecuteTool(request, timeout=30)
    elapsed = time.perf_counter() - started
    if reply.status != "ok":
        raise SystemExit(f"sandbox hello failed: {reply.status} {reply.stderr}")
    return elapsed


def time_bare_python(interpreter: str) -> float:
    started = time.perf_counter()
    subprocess.run([interpreter, "-c", "pass"], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=30)
    samples = parser.parse_args().samples
    interpreter = base_interpreter()
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as workdir:
        proc, _, grpc_port = start_service(workdir)
        try:
            with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                stub = pb_grpc.ToolServiceStub(channel)
                print(f"protections: {applied_protections(stub)}")
                for _ in range(3):
                    time_sandbox_hello(stub)
                    time_bare_python(interpreter)
                sandbox, bare = [], []
                for _ in range(samples):  # interleaved, so both see the same machine load
                    sandbox.append(time_sandbox_hello(stub))
                    bare.append(time_bare_python(interpreter))
        finally:
            stop_service(proc)
    sandbox_ms = statistics.median(sandbox) * 1000
    bare_ms = statistics.median(bare) * 1000
    print(f"samples: {samples}")
    print(f"bare `python3 -c pass` median: {bare_ms:.1f} ms")
    print(f"sandbox execute_code hello (protections above) median: {sandbox_ms:.1f} ms")
    print(f"ratio (target <= 2.0): {sandbox_ms / bare_ms:.2f}")


if __name__ == "__main__":
    main()
