"""The demo agent's parts, built once from settings: one pooled HTTP client for memory, the
sandbox and the BFF, one gRPC channel to the gateway, the agent loop and the BFF echo."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.demo_agent.agent import DemoAgent
from services.demo_agent.bff_echo import BffEcho
from services.demo_agent.gateway_client import GatewayClient
from services.demo_agent.http import SERVICE
from services.demo_agent.memory_client import MemoryClient
from services.demo_agent.sandbox_client import SandboxClient
from services.demo_agent.settings import DemoAgentSettings
from services.kit.grpc_client import open_channel
from services.kit.internal_auth import internal_headers
from services.kit.runtime import Cleanup


@dataclass(frozen=True)
class DemoAgentComponents:
    agent: DemoAgent
    echo: BffEcho


def build_components(settings: DemoAgentSettings, cleanups: list[Cleanup]) -> DemoAgentComponents:
    timeout = settings.REQUEST_TIMEOUT_SECONDS
    key = settings.internal_key()
    client = httpx.AsyncClient(timeout=timeout, trust_env=False, headers=internal_headers(key))
    channel = open_channel(
        settings.gateway_address, settings.client_tls(), settings.TLS_SERVER_NAME, internal_key=key
    )
    cleanups.extend([client.aclose, channel.close])
    agent = DemoAgent(
        MemoryClient(client, settings.MEMORY_URL, timeout),
        GatewayClient(
            pb_grpc.ModelGatewayStub(channel), settings.MODEL_GATEWAY_GRPC_TIMEOUT_SECONDS
        ),
        SandboxClient(client, settings.RUST_SANDBOX_URL, timeout),
    )
    return DemoAgentComponents(agent, BffEcho(client, settings.GO_BFF_URL, timeout, SERVICE))
