"""`python -m services.bff`: the legacy BFF on GO_BFF_PORT."""

from __future__ import annotations

import httpx

from services.bff.http import SERVICE, build_app
from services.bff.settings import BffSettings
from services.kit.logs import configure_logging, get_logger
from services.kit.runtime import run, serve
from services.kit.settings import load_settings
from services.kit.tracing import configure_tracing

log = get_logger("bff")


async def main() -> None:
    settings = load_settings(BffSettings)
    configure_logging(SERVICE, settings.LOG_LEVEL)
    configure_tracing(settings.OTEL_SERVICE_NAME or SERVICE, settings.OTEL_EXPORTER_OTLP_ENDPOINT)
    client = httpx.AsyncClient(timeout=settings.REQUEST_TIMEOUT_SECONDS, trust_env=False)
    log.info(
        "bff_configured",
        port=settings.GO_BFF_PORT,
        python_agent=settings.PY_AGENT_URL,
        sandbox=settings.RUST_SANDBOX_URL,
        memory=settings.MEMORY_URL,
        timeout_seconds=settings.REQUEST_TIMEOUT_SECONDS,
    )
    await serve(http=(build_app(settings, client), settings.GO_BFF_PORT), cleanups=[client.aclose])


if __name__ == "__main__":
    run(main)
