"""Where a service started for a test answers: `url` from its HTTP port and `address`
from its gRPC port, declared once for every handle class."""

from __future__ import annotations


class HttpEndpoint:
    http_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


class GrpcEndpoint:
    grpc_port: int

    @property
    def address(self) -> str:
        return f"localhost:{self.grpc_port}"


class ServiceEndpoints(HttpEndpoint, GrpcEndpoint):
    """A service with both doors."""
