"""A direct route (POST /direct on the kit server) keeps what every route gets from the kit:
trace id, internal key, body limits, metrics, the log line, the app's error answers, and
its place in the OpenAPI document."""

from __future__ import annotations

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from services.kit.direct_routes import ServiceFront, add_direct_route
from services.kit.http_app import create_app
from tests.kit.conftest import StartKit
from tests.support.logs import logged

KEY = "direct-route-key-41f0"


def test_answers_with_the_callers_trace_id_and_is_counted(start_kit_server: StartKit) -> None:
    server = start_kit_server()
    reply = httpx.post(
        f"{server.url}/direct", json={"name": "a"}, headers={"X-Trace-ID": "trace-direct-1"}
    )
    assert reply.status_code == 200
    assert reply.json() == {"name": "a", "trace_id": "trace-direct-1", "via_router": False}
    assert reply.headers["x-trace-id"] == "trace-direct-1"
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'http_requests_total{method="POST",path="/direct",status="200"} 1.0' in metrics
    assert logged(server.process, "http_request", path="/direct", trace_id="trace-direct-1")


def test_bad_bodies_get_the_kits_answers(start_kit_server: StartKit) -> None:
    server = start_kit_server()
    invalid = httpx.post(f"{server.url}/direct", json={"nom": "a"})
    assert invalid.status_code == 422
    assert invalid.json()["error"] == "name: Field required"
    too_large = httpx.post(f"{server.url}/direct", json={"name": "x" * 4000})
    assert too_large.status_code == 413 and "too large" in too_large.json()["error"]
    deep = httpx.post(
        f"{server.url}/direct",
        content=b'{"name": "a", "x": ' + b"[" * 100 + b"]" * 100 + b"}",
        headers={"content-type": "application/json"},
    )
    assert deep.status_code == 400 and "nested deeper than 64" in deep.json()["error"]


def test_errors_are_answered_by_the_apps_handlers_or_as_a_500(start_kit_server: StartKit) -> None:
    server = start_kit_server()
    gone = httpx.post(f"{server.url}/direct", json={"name": "a", "fail": "database"})
    assert gone.status_code == 503 and gone.json() == {"error": "database gone"}
    crash = httpx.post(f"{server.url}/direct", json={"name": "a", "fail": "crash"})
    assert crash.status_code == 500
    assert crash.json() == {"error": "internal error: RuntimeError"}
    assert logged(server.process, "unhandled_error", path="/direct")
    assert httpx.post(f"{server.url}/direct", json={"name": "b"}).json()["name"] == "b"
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'http_requests_total{method="POST",path="/direct",status="500"} 1.0' in metrics


def test_needs_the_internal_key_when_one_is_set(start_kit_server: StartKit) -> None:
    server = start_kit_server(INTERNAL_API_KEY=KEY)
    refused = httpx.post(f"{server.url}/direct", json={"name": "a"})
    assert refused.status_code == 401 and "INTERNAL_API_KEY" in refused.json()["error"]
    allowed = httpx.post(
        f"{server.url}/direct", json={"name": "a"}, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert allowed.status_code == 200


def test_is_documented_and_other_methods_are_refused(start_kit_server: StartKit) -> None:
    server = start_kit_server()
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    assert paths["/direct"]["post"]["summary"] == "A direct route"
    assert httpx.get(f"{server.url}/direct").status_code == 405
    assert httpx.post(f"{server.url}/direct/", json={"name": "a"}).status_code in (307, 404)


async def endpoint(request: Request) -> Response:
    return JSONResponse({})


def test_only_request_guards_may_be_app_wide_dependencies() -> None:
    def sync_guard(request: Request) -> None:
        return None

    async def needs_a_header(token: str = "") -> None:
        return None

    async def request_guard(request: Request) -> None:
        return None

    for dependency in (sync_guard, needs_a_header):
        app = create_app("guarded", dependencies=[Depends(dependency)])
        with pytest.raises(ValueError, match=f"{dependency.__name__}' would not run"):
            add_direct_route(app, "/fast", endpoint)
    guarded = create_app("guarded", dependencies=[Depends(request_guard)])
    add_direct_route(guarded, "/fast", endpoint)
    assert ServiceFront(guarded).guards == [request_guard]
    with pytest.raises(ValueError, match="dependencies of its own"):
        add_direct_route(guarded, "/other", endpoint, dependencies=[Depends(request_guard)])


def test_direct_routes_need_the_kits_app() -> None:
    bare = FastAPI()
    add_direct_route(bare, "/fast", endpoint)
    with pytest.raises(ValueError, match="made by create_app"):
        ServiceFront(bare)
