"""Conventions of the kit's FastAPI factory: body limit, validation errors, metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx

from tests.kit.conftest import StartKit


def test_body_over_limit_is_413(start_kit_server: StartKit) -> None:
    server = start_kit_server()
    response = httpx.post(f"{server.url}/echo", json={"a": "x" * 4000}, timeout=5)
    assert response.status_code == 413
    assert "too large" in response.json()["error"]


def test_chunked_body_over_limit_is_413(start_kit_server: StartKit) -> None:
    server = start_kit_server()

    def chunks() -> Iterator[bytes]:
        yield b'{"a": "'
        for _ in range(50):
            yield b"x" * 100
        yield b'"}'

    response = httpx.post(
        f"{server.url}/echo",
        content=chunks(),
        headers={"content-type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 413


def test_small_body_passes_and_invalid_json_names_the_problem(start_kit_server: StartKit) -> None:
    server = start_kit_server()
    assert httpx.post(f"{server.url}/echo", json={"a": 1}, timeout=5).json() == {"a": 1}
    bad = httpx.post(
        f"{server.url}/echo",
        content=b"[1, 2]",
        headers={"content-type": "application/json"},
        timeout=5,
    )
    assert bad.status_code == 422
    assert bad.json()["error"].startswith("body")


def test_metrics_count_requests(start_kit_server: StartKit) -> None:
    server = start_kit_server()
    httpx.get(f"{server.url}/relay", timeout=5)
    text = httpx.get(f"{server.url}/metrics", timeout=5).text
    assert 'http_requests_total{method="GET",path="/relay",status="200"} 1.0' in text
    assert (
        'grpc_server_requests_total{code="OK",method="/modelgateway.ModelGateway/GetPlan"} 1.0'
        in (text)
    )


JSON = {"content-type": "application/json"}


def nested_list(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_json_past_the_depth_or_number_limits_is_a_400_naming_it(
    start_kit_server: StartKit,
) -> None:
    server = start_kit_server()

    def echo(body: str) -> httpx.Response:
        return httpx.post(f"{server.url}/echo", content=body, headers=JSON, timeout=10)

    deep = echo('{"a": ' + nested_list(65) + "}")
    assert deep.status_code == 400
    assert deep.json() == {
        "error": "request body refused: JSON nested deeper than 64 levels (limit 64)"
    }
    for fine in ('{"a": ' + nested_list(63) + "}", '{"a": "' + "[" * 500 + '"}'):
        assert echo(fine).json() == json.loads(fine)
    for number in ("NaN", "Infinity", "-Infinity", "1e400"):
        refused = echo(f'{{"n": {number}}}')
        assert refused.status_code == 400
        assert refused.json()["error"] == (
            f"request body refused: JSON number {number} is not finite (only finite numbers)"
        )
