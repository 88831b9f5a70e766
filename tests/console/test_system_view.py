"""The console's /system view over a real stack: it asks each service's health over the
channels the planner's clients already hold (with their TLS and internal key), so looking
at the system opens no connection of its own."""

from __future__ import annotations

import httpx
import psutil

from tests.support.core_services import CoreStack
from tests.support.logs import logged


def connections_to(pid: int, port: int) -> int:
    """Established TCP connections from the process (or its children) to that port."""
    process = psutil.Process(pid)
    return sum(
        1
        for member in (process, *process.children(recursive=True))
        for conn in member.net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port == port and conn.status == psutil.CONN_ESTABLISHED
    )


def test_the_system_view_reuses_the_planners_channels(core_stack: CoreStack) -> None:
    planner = core_stack.planner
    # The loop's clients connect: GetPlan (gateway), GetRAGContext (memory), and a
    # web_search the mock model asks for (sandbox).
    assert planner.plan("search the web for channel counts", "s-channels").status_code == 200
    reply = httpx.get(f"{planner.url}/system", headers=planner.headers(), timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.json()["grpc"] == {"gateway": "serving", "memory": "serving", "sandbox": "serving"}
    ports = {
        "gateway": core_stack.ports.gateway_grpc,
        "memory": core_stack.memory.grpc_port,
        "sandbox": core_stack.ports.sandbox_grpc,
    }
    counts = {name: connections_to(planner.process.pid, port) for name, port in ports.items()}
    assert counts == {"gateway": 1, "memory": 1, "sandbox": 1}
    # gRPC may pool equal connections across channels, so the channels are counted too.
    channels = logged(planner.process, "grpc_channel_opened", count=3)
    opened = sorted(e["target"] for e in channels)
    env = planner.process.env
    addresses = ("MODEL_GATEWAY_ADDR", "MEMORY_GRPC_ADDR", "RUST_SANDBOX_GRPC_ADDR")
    assert opened == sorted(env[name] for name in addresses)
