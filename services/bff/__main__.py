"""`python -m services.bff`: the legacy BFF on GO_BFF_PORT."""

from __future__ import annotations

import httpx

from services.bff.http import SERVICE, build_app
from services.bff.settings import BffSettings
from services.kit.internal_auth import internal_headers
from services.kit.logs import get_logger
from services.kit.runtime import run, serve, start_service

log = get_logger("bff")


async def main() -> None:
    settings = start_service(BffSettings, SERVICE)
    client = httpx.AsyncClient(
        timeout=settings.REQUEST_TIMEOUT_SECONDS,
        trust_env=False,
        headers=internal_headers(settings.internal_key()),
    )
    log.info(
        "bff_configured",
        port=settings.GO_BFF_PORT,
        python_agent=settings.PY_AGENT_URL,
        sandbox=settings.RUST_SANDBOX_URL,
        memory=settings.MEMORY_URL,
        timeout_seconds=settings.REQUEST_TIMEOUT_SECONDS,
    )
    await serve(
        http=(build_app(settings, client), settings.GO_BFF_PORT),
        cleanups=[client.aclose],
        host=settings.BIND_HOST,
    )


if __name__ == "__main__":
    run(main)
