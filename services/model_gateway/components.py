"""The gateway's parts, built once from settings: the channel to memory for RAG context and
the planner (the mock alone, or the provider chain on one pooled HTTP session)."""

from __future__ import annotations

from services.kit.grpc_client import open_channel
from services.kit.runtime import Cleanup
from services.model_gateway.chain import Provider, ProviderChain, RetryPolicy
from services.model_gateway.chain_config import ProviderConfig
from services.model_gateway.cooldown import Cooldowns
from services.model_gateway.openai_compat import ChatCompletionsClient, new_http_session
from services.model_gateway.providers import (
    ChainPlanner,
    MockPlanner,
    MockProvider,
    OpenAICompatProvider,
    Planner,
)
from services.model_gateway.rag import MemoryRag
from services.model_gateway.redaction import Redactor
from services.model_gateway.settings import GatewaySettings

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
        internal_key=settings.internal_key(),
    )
    cleanups.append(channel.close)
    return MemoryRag(channel, settings.RAG_GRPC_ADDR)


def build_planner(
    settings: GatewaySettings,
    chain: list[ProviderConfig],
    memory: MemoryRag,
    redact: Redactor,
    cleanups: list[Cleanup],
) -> Planner:
    """The mock alone, or the provider chain on the process's one pooled HTTP session."""
    if len(chain) == 1 and chain[0].is_mock:
        return MockPlanner()
    http = new_http_session()
    cleanups.append(http.close)
    providers: list[Provider] = [
        MockProvider() if link.is_mock else OpenAICompatProvider(ChatCompletionsClient(link, http))
        for link in chain
    ]
    policy = RetryPolicy(settings.LLM_MAX_RETRIES, settings.LLM_ATTEMPT_TIMEOUT_SECONDS)
    cooldowns = Cooldowns(settings.LLM_COOLDOWN_FAILURES, settings.LLM_COOLDOWN_SECONDS)
    return ChainPlanner(
        ProviderChain(providers, policy, cooldowns, redact),
        memory if settings.RAG_PREAMBLE else None,
        settings.RAG_TIMEOUT_SECONDS,
        redact,
    )
