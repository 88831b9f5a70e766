"""API-key check for every route except the probes and /metrics, as an app dependency
so rejected requests still get a trace id, a log line and metrics."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from services.agent_planner.console.pages import is_console_page

EXEMPT_PATHS = frozenset({"/health", "/ready", "/live", "/metrics"})
UNAUTHORIZED_BODY = {"error": "unauthorized", "message": "Invalid or missing API key"}
# FastAPI serves its own docs outside the app's dependencies; with a key they are re-added
# as ordinary routes so the key guards them like every other route.
NO_BUILTIN_DOCS = {"openapi_url": None, "docs_url": None, "redoc_url": None}


class UnauthorizedError(Exception):
    pass


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key from X-API-Key, else from `Authorization: Bearer <key>`."""
    header_key = headers.get("x-api-key")
    if header_key:
        return header_key.strip()
    scheme, _, credentials = (headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def key_matches(presented: str | None, expected: str) -> bool:
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def api_key_guard(expected: str | None) -> Callable[[Request], Awaitable[None]]:
    """A dependency that raises UnauthorizedError unless the request carries the key."""

    async def guard(request: Request) -> None:
        path = request.url.path
        if expected is None or path in EXEMPT_PATHS or is_console_page(path):
            return
        if not key_matches(presented_key(request.headers), expected):
            raise UnauthorizedError

    return guard


async def unauthorized_response(_: Request, __: Exception) -> JSONResponse:
    return JSONResponse(UNAUTHORIZED_BODY, status_code=401, headers={"WWW-Authenticate": "Bearer"})


def add_docs_routes(app: FastAPI) -> None:
    """/openapi.json and /docs as routes behind the app's API-key dependency."""

    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs")

    app.add_api_route("/openapi.json", openapi, methods=["GET"], include_in_schema=False)
    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
