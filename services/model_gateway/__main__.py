"""`python -m services.model_gateway`: gRPC ModelGateway on 50051, HTTP on 8005."""

from __future__ import annotations

from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.grpc_client import open_channel
from services.kit.grpc_server import GrpcEndpoint
from services.kit.logs import get_logger
from services.kit.runtime import Cleanup, run, serve, start_service
from services.model_gateway.grpc import GatewayServicer
from services.model_gateway.http import create_gateway_app
from services.model_gateway.openai_compat import ChatCompletionsClient, new_http_client
from services.model_gateway.providers import ChatPlanner, MockPlanner, Planner
from services.model_gateway.rag import MemoryRag
from services.model_gateway.settings import GatewaySettings, ProviderConfig, provider_config

SERVICE = "model_gateway"
log = get_logger(SERVICE)
# Reconnect to a restarted memory within seconds instead of gRPC's default two minutes.
MEMORY_RECONNECT = (
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 5000),
)


async def main() -> None:
    settings = start_service(GatewaySettings, SERVICE)
    config = provider_config(settings)
    server_tls = settings.server_tls()
    channel = open_channel(
        settings.RAG_GRPC_ADDR,
        settings.client_tls(),
        settings.TLS_SERVER_NAME,
        extra_options=MEMORY_RECONNECT,
    )
    memory = MemoryRag(channel, settings.RAG_GRPC_ADDR)
    planner, cleanups = build_planner(config, memory, settings.RAG_TIMEOUT_SECONDS)
    endpoint = GrpcEndpoint(settings.MODEL_GATEWAY_GRPC_PORT, server_tls, probe=planner.ready)
    servicer = GatewayServicer(planner, memory, settings.REQUEST_TIMEOUT_SECONDS)
    endpoint.add(pb_grpc.add_ModelGatewayServicer_to_server, servicer, "modelgateway.ModelGateway")
    app = create_gateway_app(planner, memory, settings.REQUEST_TIMEOUT_SECONDS)
    log.info(
        "gateway_configured",
        provider=planner.name,
        model=planner.model,
        memory=settings.RAG_GRPC_ADDR,
        timeout_s=settings.REQUEST_TIMEOUT_SECONDS,
    )
    await serve(
        http=(app, settings.MODEL_GATEWAY_HTTP_PORT),
        grpc_endpoint=endpoint,
        cleanups=[*cleanups, channel.close],
    )


def build_planner(
    config: ProviderConfig | None, memory: MemoryRag, rag_timeout: float
) -> tuple[Planner, list[Cleanup]]:
    """The mock, or a real provider on the process's one pooled HTTP client."""
    if config is None:
        return MockPlanner(), []
    http_client = new_http_client()
    client = ChatCompletionsClient(config, http_client)
    return ChatPlanner(client, memory, rag_timeout), [http_client.aclose]


if __name__ == "__main__":
    run(main)
