"""Direct routes: the few endpoints every /plan passes through, answered without FastAPI's
own layers.

A request to a FastAPI app crosses about ten ASGI layers before its endpoint runs (the
framework's error, telemetry and body-limit middleware, the exception middleware, the
router, the route's request handling). Timed in memory at concurrency 1, they took about
0.8 ms of the session store call that ends every /plan, against 0.3 ms for the write
itself. ServiceFront, the ASGI app a service serves, sends a direct route's requests
through RequestContextMiddleware only (trace id, internal key, body limits, metrics, the
log line) to the endpoint, whose exceptions the app's own exception handlers answer.
Every other request goes to the app as before, and a direct route is still declared on
the app, so the OpenAPI document lists it and its other methods get 405.

A direct endpoint takes the Request and returns a Response. Of FastAPI's dependencies it
gets the app-wide ones that are coroutine functions of the Request alone (an API-key
guard), run before it as FastAPI would; an app with any other kind cannot have direct
routes, nor can a direct route have dependencies of its own."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

from services.kit.http_app import RequestContext, RequestContextMiddleware
from services.kit.logs import get_logger

Endpoint = Callable[[Request], Awaitable[Response]]
Guard = Callable[[Request], Awaitable[Any]]
log = get_logger("http")


def add_direct_route(
    app: FastAPI, path: str, endpoint: Endpoint, method: str = "POST", **route_options: Any
) -> None:
    """Declare `method path` on app as usual, and have ServiceFront answer it directly."""
    if route_options.get("dependencies"):
        raise ValueError(f"{method} {path}: a direct route cannot have dependencies of its own")
    request_guards(app)
    app.add_api_route(path, endpoint, methods=[method], **route_options)
    if not hasattr(app.state, "direct_routes"):
        app.state.direct_routes = {}
    app.state.direct_routes[(method, path)] = endpoint


class ServiceFront:
    """The ASGI app a service serves: its app, with the direct routes short-cut."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        declared: dict[tuple[str, str], Endpoint] = getattr(app.state, "direct_routes", {})
        self.routes = {key: (endpoint, _route(app, *key)) for key, endpoint in declared.items()}
        self.guards = request_guards(app) if self.routes else []
        context: RequestContext | None = getattr(app.state, "request_context", None)
        if self.routes and context is None:
            raise ValueError("direct routes need an app made by create_app")
        self.direct = (
            RequestContextMiddleware(self._dispatch, context.max_body_bytes, context.internal_key)
            if context is not None and self.routes
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.direct is not None:
            found = self.routes.get((scope["method"], scope["path"]))
            if found is not None:
                scope["app"] = self.app
                scope["route"] = found[1]  # labels the request's metrics, as the router does
                await self.direct(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint, _ = self.routes[(scope["method"], scope["path"])]
        request = Request(scope, receive, send)
        try:
            for guard in self.guards:
                await guard(request)
            response = await endpoint(request)
        except Exception as exc:
            response = await self._answer(request, exc)
        await response(scope, receive, send)

    async def _answer(self, request: Request, exc: Exception) -> Response:
        """The app's exception handler's answer, or a 500 naming the error's type."""
        handlers = self.app.exception_handlers
        handler = next((handlers[c] for c in type(exc).__mro__ if c in handlers), None)
        if handler is None:
            log.exception("unhandled_error", path=request.url.path)
            return JSONResponse({"error": f"internal error: {type(exc).__name__}"}, 500)
        answer = handler(request, exc)
        response = await answer if inspect.isawaitable(answer) else answer
        assert isinstance(response, Response)
        return response


def request_guards(app: FastAPI) -> list[Guard]:
    """The app-wide dependencies, each a coroutine function of the Request alone; ValueError
    for any other kind, which only FastAPI's dependency solving can run."""
    guards = []
    for dependency in app.router.dependencies:
        call = dependency.dependency
        if call is None or not inspect.iscoroutinefunction(call) or not _of_request(call):
            raise ValueError(
                f"the app's dependency {getattr(call, '__name__', call)!r} would not run on "
                "a direct route (only coroutine functions of the Request alone do)"
            )
        guards.append(call)
    return guards


def _of_request(call: Callable[..., Any]) -> bool:
    parameters = list(inspect.signature(call).parameters.values())
    if len(parameters) != 1:
        return False
    return typing.get_type_hints(call).get(parameters[0].name) is Request


def _route(app: FastAPI, method: str, path: str) -> APIRoute:
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path == path and method in (route.methods or ()):
            return route
    raise ValueError(f"{method} {path} is not declared on the app")
