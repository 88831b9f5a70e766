"""/console and its static files. The pages carry no data and no secret: they ask for the
API key in the browser and send it on every call they make to the planner's API."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from services.kit.knowledge_bases import PLANNER_KNOWLEDGE_BASES

STATIC = Path(__file__).resolve().parent / "static"
CONSOLE_PREFIX = "/console"


def is_console_page(path: str) -> bool:
    """Paths served without the API key: the console's own HTML, JS and CSS."""
    return path == CONSOLE_PREFIX or path.startswith(f"{CONSOLE_PREFIX}/")


def add_console_pages(app: FastAPI, jaeger_ui_url: str = "") -> None:
    @app.get(f"{CONSOLE_PREFIX}/config.json", include_in_schema=False)
    async def config() -> JSONResponse:
        """What the pages need to know that is not secret: where traces can be viewed, and
        the knowledge bases a run may search (the choices of the Run page)."""
        return JSONResponse(
            {"jaeger_ui_url": jaeger_ui_url, "knowledge_bases": list(PLANNER_KNOWLEDGE_BASES)}
        )

    @app.get(CONSOLE_PREFIX, include_in_schema=False)
    async def console() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(CONSOLE_PREFIX)

    app.mount(f"{CONSOLE_PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")
