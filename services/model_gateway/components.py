"""The gateway's parts, built once from settings: the channel to memory for RAG context and
the planner (the mock, or a provider on one pooled HTTP client)."""

from __future__ import annotations

from services.kit.grpc_client import open_channel
from services.kit.runtime import Cleanup
from services.model_gateway.openai_compat import ChatCompletionsClient, new_http_client
from services.model_gateway.providers import ChatPlanner, MockPlanner, Planner
from services.model_gateway.rag import MemoryRag
from services.model_gateway.settings import GatewaySettings, ProviderConfig

# Reconnect to a restarted memory within seconds instead of gRPC's default two minutes.
MEMORY_RECONNECT = (
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 5000),
)


def open_memory(settings: GatewaySettings, cleanups: list[Cleanup]) -> MemoryRag:
    channel = open_channel(
        settings.RAG_GRPC_ADDR,
        settings.client_tls(),
        settings.TLS_SERVER_NAME,
        extra_options=MEMORY_RECONNECT,
    )
    cleanups.append(channel.close)
    return MemoryRag(channel, settings.RAG_GRPC_ADDR)


def build_planner(
    config: ProviderConfig | None, memory: MemoryRag, rag_timeout: float, cleanups: list[Cleanup]
) -> Planner:
    """The mock, or a real provider on the process's one pooled HTTP client."""
    if config is None:
        return MockPlanner()
    http_client = new_http_client()
    cleanups.append(http_client.aclose)
    return ChatPlanner(ChatCompletionsClient(config, http_client), memory, rag_timeout)
