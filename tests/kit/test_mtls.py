"""mTLS from scripts/gen_certs.sh: a client with the client certificate gets in, others don't."""

from __future__ import annotations

import subprocess
from pathlib import Path

import grpc
import pytest

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from tests.kit.conftest import StartKit
from tests.support.certs import ca_only_credentials, client_credentials, tls_env
from tests.support.grpcurl import grpcurl
from tests.support.processes import grpc_ready


def call(address: str, credentials: grpc.ChannelCredentials | None) -> pb.PlanResponse:
    channel = (
        grpc.secure_channel(address, credentials) if credentials else grpc.insecure_channel(address)
    )
    with channel:
        return pb_grpc.ModelGatewayStub(channel).GetPlan(pb.PlanRequest(prompt="tls"), timeout=5)


def test_gen_certs_writes_a_verifiable_set(certs: Path) -> None:
    for name in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key"):
        assert (certs / name).is_file()
    verified = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(certs / "ca.crt"),
            str(certs / "server.crt"),
            str(certs / "client.crt"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    sans = subprocess.run(
        ["openssl", "x509", "-in", str(certs / "server.crt"), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:model-gateway" in sans and "DNS:localhost" in sans and "127.0.0.1" in sans


def test_client_with_certificate_is_accepted(start_kit_server: StartKit, certs: Path) -> None:
    server = start_kit_server(**tls_env(certs))
    good = client_credentials(certs)
    assert grpc_ready(server.grpc_port, good)()
    assert call(server.address, good).plan == "tls"


def test_kit_channel_uses_client_certificate(start_kit_server: StartKit, certs: Path) -> None:
    """The server's own /relay goes through open_channel with TLS_CLIENT_* set."""
    import httpx

    server = start_kit_server(**tls_env(certs))
    assert (
        httpx.get(f"{server.url}/relay", params={"prompt": "ok"}, timeout=10).json()["plan"] == "ok"
    )


def test_client_without_certificate_is_rejected(start_kit_server: StartKit, certs: Path) -> None:
    server = start_kit_server(**tls_env(certs))
    no_cert = ca_only_credentials(certs)
    with pytest.raises(grpc.RpcError) as caught:
        call(server.address, no_cert)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(grpc.RpcError):
        call(server.address, None)


def test_grpcurl_with_client_certificate(start_kit_server: StartKit, certs: Path) -> None:
    server = start_kit_server(**tls_env(certs))
    ok = grpcurl(
        "-cacert",
        str(certs / "ca.crt"),
        "-cert",
        str(certs / "client.crt"),
        "-key",
        str(certs / "client.key"),
        server.address,
        "list",
    )
    assert ok.returncode == 0, ok.stderr
    assert "modelgateway.ModelGateway" in ok.stdout
    refused = grpcurl("-cacert", str(certs / "ca.crt"), server.address, "list")
    assert refused.returncode != 0
