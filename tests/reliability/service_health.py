"""Readiness checks over every service of a running core stack."""

from __future__ import annotations

import time

import httpx

from tests.support.core_services import CoreStack
from tests.support.processes import grpc_ready, http_ready


def grpc_ports(stack: CoreStack) -> dict[str, int]:
    """The gRPC server of each service that has one."""
    return {
        "memory": stack.memory.grpc_port,
        "gateway": stack.ports.gateway_grpc,
        "sandbox": stack.ports.sandbox_grpc,
    }


def unhealthy_services(stack: CoreStack) -> list[str]:
    checks = {
        "planner": http_ready(stack.ports.planner, "/ready"),
        "memory http": http_ready(stack.memory.http_port),
        "sandbox http": http_ready(stack.ports.sandbox_http),
        "gateway http": http_ready(stack.ports.gateway_http),
        **{f"{name} grpc": grpc_ready(port) for name, port in grpc_ports(stack).items()},
    }
    down = [name for name, check in checks.items() if not check()]
    down += [name for name, proc in stack.processes.items() if not proc.alive()]
    return down


def assert_stack_healthy(stack: CoreStack, timeout: float = 30) -> None:
    """Every process alive and every health check green (waiting up to timeout)."""
    deadline = time.monotonic() + timeout
    while (down := unhealthy_services(stack)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not down, f"unhealthy after {timeout}s: {down}"


def planner_answers(stack: CoreStack, session_id: str) -> httpx.Response:
    """One hello /plan that must succeed; returns the response."""
    reply = stack.planner.plan("Say hello", session_id, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply
