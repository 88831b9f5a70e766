"""Development certificates from scripts/gen_certs.sh and the TLS_* settings that use them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import grpc

from tests.support.processes import ROOT

GEN_CERTS = ROOT / "scripts" / "gen_certs.sh"


def make_certs(directory: Path) -> Path:
    """A CA, a server pair and a client pair written into directory."""
    subprocess.run(["bash", str(GEN_CERTS), str(directory)], check=True, capture_output=True)
    return directory


def server_tls_env(certs: Path) -> dict[str, str]:
    """TLS_SERVER_*: serve gRPC with mTLS."""
    return {
        "TLS_SERVER_CERT_PATH": str(certs / "server.crt"),
        "TLS_SERVER_KEY_PATH": str(certs / "server.key"),
        "TLS_CA_CERT_PATH": str(certs / "ca.crt"),
    }


def client_tls_env(certs: Path, server_name: str = "") -> dict[str, str]:
    """TLS_CLIENT_*: call other services with the client certificate."""
    env = {
        "TLS_CLIENT_CERT_PATH": str(certs / "client.crt"),
        "TLS_CLIENT_KEY_PATH": str(certs / "client.key"),
        "TLS_CA_CERT_PATH": str(certs / "ca.crt"),
    }
    return {**env, "TLS_SERVER_NAME": server_name} if server_name else env


def tls_env(certs: Path) -> dict[str, str]:
    """Both sides: a service that serves and calls with mTLS."""
    return {**server_tls_env(certs), **client_tls_env(certs)}


def client_credentials(certs: Path) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=(certs / "ca.crt").read_bytes(),
        private_key=(certs / "client.key").read_bytes(),
        certificate_chain=(certs / "client.crt").read_bytes(),
    )


def ca_only_credentials(certs: Path) -> grpc.ChannelCredentials:
    """Trusts the server but presents no client certificate: mTLS servers must refuse it."""
    return grpc.ssl_channel_credentials(root_certificates=(certs / "ca.crt").read_bytes())
