"""gRPC server bootstrap: health (probing real readiness), reflection, optional mTLS, and
every servicer's handlers wrapped by grpc_calls (trace id, span, internal key, metrics and
a log line per call)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.kit.errors import StartupError
from services.kit.grpc_calls import WrappingRegistrar
from services.kit.internal_auth import warn_if_exposed
from services.kit.logs import get_logger
from services.kit.settings import ServiceSettings
from services.kit.tls import TlsFiles, server_credentials

Probe = Callable[[], Awaitable[bool]]
Registrar = Callable[[Any, Any], None]  # a generated add_XServicer_to_server

log = get_logger("grpc")
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
PROBE_TIMEOUT_SECONDS = 3.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class ProbingHealthServicer(health.aio.HealthServicer):
    """Health whose Check runs the service's readiness probe, so it reflects reality."""

    def __init__(self, names: list[str], probe: Probe | None) -> None:
        super().__init__()
        self._names = ["", *names]
        self._probe = probe

    async def refresh(self) -> bool:
        ready = await run_probe(self._probe)
        for name in self._names:
            await self.set(name, SERVING if ready else NOT_SERVING)
        return ready

    async def Check(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self.refresh()
        return await super().Check(request, context)


async def refuse_served_elsewhere(
    context: grpc.aio.ServicerContext, call: str, here: str, there: str
) -> NoReturn:
    """Answer a call of the shared ModelGateway service that another service serves:
    UNIMPLEMENTED, naming the one to call instead."""
    await context.abort(
        grpc.StatusCode.UNIMPLEMENTED, f"{call} is not served by {here}; call {there} instead"
    )
    raise AssertionError("abort always raises")


async def run_probe(probe: Probe | None) -> bool:
    if probe is None:
        return True
    try:
        return await asyncio.wait_for(probe(), PROBE_TIMEOUT_SECONDS)
    except Exception as exc:  # a failing probe means not ready, never a crash
        log.warning("readiness_probe_failed", error=str(exc) or type(exc).__name__)
        return False


class GrpcEndpoint:
    """One gRPC server: add servicers, then start on a port; health and reflection included."""

    def __init__(
        self,
        port: int,
        tls: TlsFiles | None,
        probe: Probe | None = None,
        host: str = "127.0.0.1",
        internal_key: str | None = None,
    ) -> None:
        self.port = port
        self.tls = tls
        self.host = host
        # With mTLS the client certificate is the credential; the key is for plaintext links.
        self.internal_key = None if tls else internal_key
        self._probe = probe
        self._servicers: list[tuple[Registrar, Any, str]] = []
        self.server: grpc.aio.Server | None = None
        self.health: ProbingHealthServicer | None = None

    @classmethod
    def for_service(
        cls, settings: ServiceSettings, port: int, probe: Probe | None = None
    ) -> GrpcEndpoint:
        """The endpoint as the service's settings say: mTLS files, BIND_HOST, INTERNAL_API_KEY."""
        return cls(port, settings.server_tls(), probe, settings.BIND_HOST, settings.internal_key())

    def add(self, registrar: Registrar, servicer: Any, full_name: str) -> None:
        """Register servicer with its generated add_XServicer_to_server and full service name."""
        self._servicers.append((registrar, servicer, full_name))

    async def start(self) -> int:
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ],
        )
        names = [name for _, _, name in self._servicers]
        wrapping = WrappingRegistrar(server, self.internal_key or None)
        for registrar, servicer, _ in self._servicers:
            registrar(servicer, wrapping)
        self.health = ProbingHealthServicer(names, self._probe)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, wrapping)
        # Reflection picks its servicer by the server's class, so it gets the real server
        # (it is exempt from the key and not observed: nothing to wrap).
        reflection.enable_server_reflection(
            [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
        host = self.host.strip()
        address = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        try:
            if self.tls:
                bound = server.add_secure_port(address, server_credentials(self.tls))
            else:
                bound = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise StartupError(f"cannot listen for gRPC on {address}: {exc}") from None
        if not bound:
            raise StartupError(f"cannot listen for gRPC on {address}")
        warn_if_exposed(host, self.internal_key, grpc_mtls=bool(self.tls))
        if not self.tls:
            log.warning(
                "grpc_plaintext",
                port=bound,
                hint="set TLS_SERVER_CERT_PATH, TLS_SERVER_KEY_PATH, TLS_CA_CERT_PATH for mTLS",
            )
        await server.start()
        await self.health.refresh()
        self.server = server
        log.info(
            "grpc_listening",
            host=host,
            port=bound,
            services=names,
            tls=bool(self.tls),
            internal_key=bool(self.internal_key),
        )
        return bound

    async def stop(self, grace: float = 5.0) -> None:
        if self.server is not None:
            if self.health is not None:
                await self.health.enter_graceful_shutdown()
            await self.server.stop(grace)
