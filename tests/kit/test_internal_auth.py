"""INTERNAL_API_KEY and BIND_HOST on a kit-built service: every gRPC method and HTTP route
but the probes needs the key, the kit's own client sends it, and a service listens on
loopback unless told otherwise (and says so loudly when it is open to the network)."""

from __future__ import annotations

import ipaddress

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from tests.kit.conftest import KitServer, StartKit
from tests.support.grpcurl import grpcurl
from tests.support.logs import log_events, logged

KEY = "internal-test-key-7c1e"
WARNING = "UNAUTHENTICATED_SERVICE_ON_NETWORK"


def get_plan(server: KitServer, metadata: list[tuple[str, str]]) -> grpc.StatusCode:
    with grpc.insecure_channel(server.address) as channel:
        try:
            pb_grpc.ModelGatewayStub(channel).GetPlan(
                pb.PlanRequest(prompt="hi"), metadata=metadata, timeout=10
            )
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on port, from the kernel's own table
    (IPv4-mapped IPv6 addresses shown as the IPv4 address they carry)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                local, state = row.split()[1], row.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(str(decode_address(address)))
    return found


def decode_address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """/proc/net/tcp* writes addresses as 32-bit words in host (little-endian) order."""
    raw = bytes.fromhex(hex_address)
    ordered = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    if len(ordered) == 4:
        return ipaddress.IPv4Address(ordered)
    address = ipaddress.IPv6Address(ordered)
    return address.ipv4_mapped or address


LOOPBACK_V4 = "127.0.0.1"


@pytest.fixture
def keyed(start_kit_server: StartKit) -> KitServer:
    return start_kit_server(INTERNAL_API_KEY=KEY)


def test_grpc_needs_the_key_except_health_and_reflection(keyed: KitServer) -> None:
    assert get_plan(keyed, []) == grpc.StatusCode.UNAUTHENTICATED
    assert get_plan(keyed, [("authorization", "Bearer wrong")]) == grpc.StatusCode.UNAUTHENTICATED
    assert get_plan(keyed, [("authorization", KEY)]) == grpc.StatusCode.UNAUTHENTICATED
    assert get_plan(keyed, [("authorization", f"Bearer {KEY}")]) == grpc.StatusCode.OK
    health = grpcurl("-plaintext", keyed.address, "grpc.health.v1.Health/Check")
    assert '"SERVING"' in health.stdout, health.stderr
    listed = grpcurl("-plaintext", keyed.address, "list")
    assert "modelgateway.ModelGateway" in listed.stdout, listed.stderr
    refused = grpcurl("-plaintext", keyed.address, "modelgateway.ModelGateway/GetPlan")
    assert "Unauthenticated" in refused.stderr
    assert "INTERNAL_API_KEY" in refused.stderr


def test_the_kits_own_client_sends_the_key(keyed: KitServer) -> None:
    relayed = httpx.get(
        f"{keyed.url}/relay", params={"prompt": "via the channel"}, headers=auth(KEY), timeout=10
    )
    assert relayed.json()["plan"] == "via the channel"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_http_needs_the_key_except_probes_and_metrics(keyed: KitServer) -> None:
    for path in ("/health", "/metrics"):
        assert httpx.get(f"{keyed.url}{path}", timeout=10).status_code == 200
    for path in ("/relay", "/openapi.json", "/docs"):
        refused = httpx.get(f"{keyed.url}{path}", timeout=10)
        assert refused.status_code == 401, path
        assert "INTERNAL_API_KEY" in refused.json()["error"]
        assert httpx.get(f"{keyed.url}{path}", headers=auth("nope"), timeout=10).status_code == 401
    echo = httpx.post(f"{keyed.url}/echo", json={"a": 1}, headers=auth(KEY), timeout=10)
    assert echo.json() == {"a": 1}
    assert httpx.post(f"{keyed.url}/echo", json={"a": 1}, timeout=10).status_code == 401


def test_random_authorization_values_are_refused_cleanly(keyed: KitServer) -> None:
    header_values = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(value=st.one_of(header_values, header_values.map(lambda v: f"Bearer {v}")))
    def check(value: str) -> None:
        expected = grpc.StatusCode.OK if value.strip() == f"Bearer {KEY}" else None
        code = get_plan(keyed, [("authorization", value)])
        assert code == (expected or grpc.StatusCode.UNAUTHENTICATED), (value, code)
        status = httpx.get(f"{keyed.url}/relay", headers={"Authorization": value}, timeout=10)
        assert status.status_code in (200, 401), (value, status.status_code)

    check()


def test_a_service_listens_on_loopback_by_default(start_kit_server: StartKit) -> None:
    server = start_kit_server()
    assert listening_addresses(server.http_port) == {LOOPBACK_V4}
    assert listening_addresses(server.grpc_port) == {LOOPBACK_V4}
    assert not log_events(server.process, WARNING)


def test_open_to_the_network_without_a_key_warns_loudly(start_kit_server: StartKit) -> None:
    server = start_kit_server(BIND_HOST="0.0.0.0")
    assert listening_addresses(server.http_port) == {"0.0.0.0"}
    assert listening_addresses(server.grpc_port) in ({"0.0.0.0"}, {"::"})  # [::] is dual-stack
    [warning] = logged(server.process, WARNING)
    assert warning["level"] == "warning"
    assert "HTTP routes and gRPC methods" in warning["message"]


def test_open_to_the_network_with_a_key_does_not_warn(start_kit_server: StartKit) -> None:
    server = start_kit_server(BIND_HOST="0.0.0.0", INTERNAL_API_KEY=KEY)
    assert listening_addresses(server.grpc_port) in ({"0.0.0.0"}, {"::"})  # [::] is dual-stack
    assert get_plan(server, []) == grpc.StatusCode.UNAUTHENTICATED
    assert not log_events(server.process, WARNING)
