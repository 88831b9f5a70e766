"""Container health probe: exit 0 when a service answers its health check, else 1.

    python observability/healthcheck.py http 8001           # GET /health answers 200
    python observability/healthcheck.py http 8003 /ready    # GET /ready answers 200
    python observability/healthcheck.py grpc 50051          # grpc.health.v1 Check is SERVING

The gRPC probe uses mTLS when TLS_CLIENT_CERT_PATH, TLS_CLIENT_KEY_PATH and TLS_CA_CERT_PATH
are set (TLS_PROBE_SERVER_NAME, default localhost, is the name checked on the server's
certificate), so the same command works with the compose TLS override.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request


def http_ok(port: int, path: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as reply:
            return int(reply.status) == 200
    except urllib.error.HTTPError as exc:
        # The service's own reason (e.g. how far memory's start-up ingestion is) ends up in
        # `docker inspect`'s health log.
        print(f"unhealthy: HTTP {exc.code}: {reason_of(exc)}", file=sys.stderr)
        return False


def reason_of(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read(4096))
    except ValueError:
        return error.reason or "no reason given"
    return str(body.get("error") or body.get("status") or body) if isinstance(body, dict) else ""


def grpc_ok(port: int) -> bool:
    from services.kit.health_probe import client_credentials_from, grpc_serving

    credentials = client_credentials_from(os.environ)
    name = os.environ.get("TLS_PROBE_SERVER_NAME", "localhost") if credentials else ""
    return grpc_serving(f"localhost:{port}", credentials, name)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("http", "grpc") or not argv[1].isdigit():
        print("usage: healthcheck.py http|grpc PORT [PATH]", file=sys.stderr)
        return 2
    kind, port = argv[0], int(argv[1])
    try:
        ok = (
            http_ok(port, argv[2] if len(argv) > 2 else "/health")
            if kind == "http"
            else grpc_ok(port)
        )
    except Exception as exc:  # any failure to answer means unhealthy
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
