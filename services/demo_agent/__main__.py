"""`python -m services.demo_agent`: the legacy demo agent on PY_AGENT_PORT."""

from __future__ import annotations

import httpx

from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.demo_agent.agent import DemoAgent
from services.demo_agent.bff_echo import BffEcho
from services.demo_agent.gateway_client import GatewayClient
from services.demo_agent.http import SERVICE, build_app
from services.demo_agent.memory_client import MemoryClient
from services.demo_agent.sandbox_client import SandboxClient
from services.demo_agent.settings import DemoAgentSettings
from services.kit.grpc_client import open_channel
from services.kit.internal_auth import internal_headers
from services.kit.logs import get_logger
from services.kit.runtime import run, serve, start_service

log = get_logger("demo_agent")


async def main() -> None:
    settings = start_service(DemoAgentSettings, SERVICE)
    timeout = settings.REQUEST_TIMEOUT_SECONDS
    key = settings.internal_key()
    client = httpx.AsyncClient(timeout=timeout, trust_env=False, headers=internal_headers(key))
    channel = open_channel(
        settings.gateway_address, settings.client_tls(), settings.TLS_SERVER_NAME, internal_key=key
    )
    agent = DemoAgent(
        MemoryClient(client, settings.MEMORY_URL, timeout),
        GatewayClient(
            pb_grpc.ModelGatewayStub(channel), settings.MODEL_GATEWAY_GRPC_TIMEOUT_SECONDS
        ),
        SandboxClient(client, settings.RUST_SANDBOX_URL, timeout),
    )
    echo = BffEcho(client, settings.GO_BFF_URL, timeout, SERVICE)
    log.info(
        "demo_agent_configured",
        port=settings.PY_AGENT_PORT,
        gateway=settings.gateway_address,
        bff=settings.GO_BFF_URL,
        memory=settings.MEMORY_URL,
        sandbox=settings.RUST_SANDBOX_URL,
    )

    async def close_channel() -> None:
        await channel.close()

    await serve(
        http=(build_app(agent, echo), settings.PY_AGENT_PORT),
        cleanups=[client.aclose, close_channel],
        host=settings.BIND_HOST,
    )


if __name__ == "__main__":
    run(main)
