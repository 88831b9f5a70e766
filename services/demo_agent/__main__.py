"""`python -m services.demo_agent`: the legacy demo agent on PY_AGENT_PORT."""

from __future__ import annotations

from services.demo_agent.components import build_components
from services.demo_agent.http import SERVICE, build_app
from services.demo_agent.settings import DemoAgentSettings
from services.kit.logs import get_logger
from services.kit.runtime import Cleanup, run, serve, start_service

log = get_logger("demo_agent")


async def main() -> None:
    settings = start_service(DemoAgentSettings, SERVICE)
    cleanups: list[Cleanup] = []
    parts = build_components(settings, cleanups)
    log.info(
        "demo_agent_configured",
        port=settings.PY_AGENT_PORT,
        gateway=settings.gateway_address,
        bff=settings.GO_BFF_URL,
        memory=settings.MEMORY_URL,
        sandbox=settings.RUST_SANDBOX_URL,
    )
    await serve(
        http=(build_app(parts.agent, parts.echo), settings.PY_AGENT_PORT),
        cleanups=cleanups,
        host=settings.BIND_HOST,
    )


if __name__ == "__main__":
    run(main)
