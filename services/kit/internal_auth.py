"""INTERNAL_API_KEY: the shared secret between PAGI services. When it is set, every gRPC
method (except health and reflection) and every HTTP route (except the probes and
/metrics) of an internal service requires `authorization: Bearer <key>`, and every
internal client sends it. Without mTLS or a key, a service reachable from the network
says so loudly at start-up."""

from __future__ import annotations

import hmac
import ipaddress

from services.kit.logs import get_logger

AUTH_METADATA = "authorization"
EXEMPT_METHOD_PREFIXES = ("/grpc.health.", "/grpc.reflection.")
EXEMPT_HTTP_PATHS = frozenset({"/health", "/ready", "/live", "/metrics"})
UNAUTHENTICATED = "missing or wrong internal key (authorization: Bearer <INTERNAL_API_KEY>)"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
log = get_logger("internal_auth")


def bearer(key: str) -> str:
    return f"Bearer {key}"


def internal_headers(key: str | None) -> dict[str, str]:
    """Headers an internal HTTP client sends on every request ({} without a key)."""
    return {"Authorization": bearer(key)} if key else {}


def authorized(presented: str | None, key: str) -> bool:
    """Whether an Authorization value carries key (constant-time comparison)."""
    scheme, _, credentials = (presented or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode(), key.encode())


def is_loopback(host: str) -> bool:
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def warn_if_exposed(host: str, internal_key: str | None, grpc_mtls: bool) -> None:
    """A loud start-up warning when anyone who can reach host may call this service."""
    if is_loopback(host) or internal_key:
        return
    doors = "HTTP routes" if grpc_mtls else "HTTP routes and gRPC methods"
    log.warning(
        "UNAUTHENTICATED_SERVICE_ON_NETWORK",
        host=host,
        grpc_mtls=grpc_mtls,
        message=(
            f"listening on {host} with no INTERNAL_API_KEY: anyone who can reach this host "
            f"can call its {doors}; set INTERNAL_API_KEY (and mTLS), or BIND_HOST=127.0.0.1"
        ),
    )
