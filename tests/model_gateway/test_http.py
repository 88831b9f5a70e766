"""The gateway's HTTP port: vector-test validation, /health and /metrics."""

from __future__ import annotations

import httpx

from tests.model_gateway.conftest import Gateway


def test_missing_query_is_400(mock_gateway: Gateway) -> None:
    for params in ({}, {"query": "  "}, {"k": "3"}):
        response = httpx.get(f"{mock_gateway.url}/api/v1/vector-test", params=params)
        assert response.status_code == 400
        assert response.json() == {"error": "missing required query param: query"}


def test_bad_k_is_400(mock_gateway: Gateway) -> None:
    for k in ("zero", "0", "-1", "51"):
        response = httpx.get(
            f"{mock_gateway.url}/api/v1/vector-test", params={"query": "q", "k": k}
        )
        assert response.status_code == 400
        assert "k" in response.json()["error"]


def test_other_methods_are_405(mock_gateway: Gateway) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        response = httpx.request(method, f"{mock_gateway.url}/api/v1/vector-test?query=q")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET"
        assert "error" in response.json()


def test_memory_down_is_503_naming_memory(mock_gateway: Gateway) -> None:
    response = httpx.get(f"{mock_gateway.url}/api/v1/vector-test", params={"query": "q"})
    assert response.status_code == 503
    assert response.json()["error"].startswith("memory unavailable")


def test_health_and_metrics(mock_gateway: Gateway) -> None:
    health = httpx.get(f"{mock_gateway.url}/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["provider"] == "mock"
    assert health.json()["ready"] is True
    assert health.json()["chain"] == [{"provider": "mock", "model": "mock", "cooling_down_s": 0.0}]
    mock_gateway.plan("count me")
    metrics = httpx.get(f"{mock_gateway.url}/metrics").text
    assert 'model_gateway_plan_total{outcome="success",provider="mock"}' in metrics
    assert "model_gateway_plan_duration_seconds_bucket" in metrics
