"""HTTP routes of the BFF: the echo wiring check and the dashboard fan-out."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.bff.downstream import dashboard_calls, gather_dashboard
from services.bff.settings import BffSettings
from services.kit.http_app import create_app
from services.kit.json_limits import loads_bounded
from services.kit.request_ids import REQUEST_ID_HEADER, bind_request_id

SERVICE = "bff"
VERSION = "0.1.0"


class InvalidJsonBody(Exception):
    """The request body is not JSON text."""


def build_app(settings: BffSettings, client: httpx.AsyncClient) -> FastAPI:
    """The BFF app; `client` is the one shared connection pool for downstream calls."""
    app = create_app(SERVICE, VERSION)
    calls = dashboard_calls(settings)

    @app.exception_handler(InvalidJsonBody)
    async def invalid_json(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.post("/api/v1/echo")
    async def echo(request: Request) -> JSONResponse:
        """Answers from this process alone: it is the demo agent's wiring check."""
        received = await read_json_body(request)
        request_id = bind_request_id(request.headers.get(REQUEST_ID_HEADER), received)
        body = {"service": SERVICE, "received": received, "request_id": request_id}
        return JSONResponse(body, headers={REQUEST_ID_HEADER: request_id})

    @app.get("/api/v1/agi/dashboard-data")
    async def dashboard_data(request: Request) -> JSONResponse:
        request_id = bind_request_id(request.headers.get(REQUEST_ID_HEADER))
        data = await gather_dashboard(client, calls, request_id, settings.REQUEST_TIMEOUT_SECONDS)
        body = {"service": SERVICE, "status": "ok", "request_id": request_id, "data": data}
        return JSONResponse(body, headers={REQUEST_ID_HEADER: request_id})

    return app


async def read_json_body(request: Request) -> Any:
    """Any JSON value; an empty body counts as `{}`."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return loads_bounded(raw)
    except ValueError as exc:
        raise InvalidJsonBody(f"request body is not valid JSON: {exc}") from None
