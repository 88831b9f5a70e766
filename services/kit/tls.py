"""Optional mutual TLS for gRPC links, configured by the TLS_* variables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from services.kit.errors import ConfigError


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    ca: Path


def _pick(role: str, cert: str, key: str, ca: str) -> TlsFiles | None:
    """All three files or none; a partial set is a configuration error naming what is missing.

    The CA alone does not switch TLS on: it is shared by the server and client sets.
    """
    values = {f"TLS_{role}_CERT_PATH": cert, f"TLS_{role}_KEY_PATH": key, "TLS_CA_CERT_PATH": ca}
    if not cert.strip() and not key.strip():
        return None
    missing = [name for name, value in values.items() if not value.strip()]
    if missing:
        raise ConfigError(
            f"incomplete {role.lower()} TLS configuration: set {', '.join(missing)} "
            f"(TLS_{role}_CERT_PATH, TLS_{role}_KEY_PATH and TLS_CA_CERT_PATH go together)"
        )
    files = TlsFiles(Path(cert), Path(key), Path(ca))
    for name, path in zip(values, (files.cert, files.key, files.ca), strict=True):
        if not path.is_file():
            raise ConfigError(f"{name}: file not found: {path}")
    return files


def server_tls(cert: str, key: str, ca: str) -> TlsFiles | None:
    return _pick("SERVER", cert, key, ca)


def client_tls(cert: str, key: str, ca: str) -> TlsFiles | None:
    return _pick("CLIENT", cert, key, ca)


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """Credentials that require and verify a client certificate signed by the CA."""
    return grpc.ssl_server_credentials(
        [(files.key.read_bytes(), files.cert.read_bytes())],
        root_certificates=files.ca.read_bytes(),
        require_client_auth=True,
    )


def channel_credentials(files: TlsFiles) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=files.ca.read_bytes(),
        private_key=files.key.read_bytes(),
        certificate_chain=files.cert.read_bytes(),
    )
