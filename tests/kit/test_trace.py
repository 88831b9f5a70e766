"""Trace ids: X-Trace-ID over HTTP, x-trace-id over gRPC, bound into every log line."""

from __future__ import annotations

import json
import uuid

import grpc
import httpx

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.trace import new_trace_id
from tests.kit.conftest import StartKit
from tests.support.kit_server import SHOW_TRACE_CONTEXT
from tests.support.logs import log_events, log_records, logged


def test_trace_id_flows_from_http_through_grpc_into_logs(start_kit_server: StartKit) -> None:
    server = start_kit_server()
    trace_id = f"test-{uuid.uuid4()}"
    response = httpx.get(f"{server.url}/relay", headers={"X-Trace-ID": trace_id}, timeout=10)
    assert response.status_code == 200
    assert response.headers["X-Trace-ID"] == trace_id
    assert response.json()["callee_trace_id"] == trace_id
    server.process.stop()
    events = {
        e["event"]: e for e in log_records(server.process.log()) if e.get("trace_id") == trace_id
    }
    assert {"http_request", "grpc_request", "echo_plan"} <= set(events)
    assert events["http_request"]["path"] == "/relay"
    assert events["grpc_request"]["method"] == "/modelgateway.ModelGateway/GetPlan"


def test_missing_trace_id_is_generated(start_kit_server: StartKit) -> None:
    server = start_kit_server()
    response = httpx.get(f"{server.url}/relay", timeout=10)
    generated = response.headers["X-Trace-ID"]
    assert uuid.UUID(generated).version == 4
    assert response.json()["callee_trace_id"] == generated


def test_generated_trace_ids_are_canonical_uuid4_texts() -> None:
    """The id is built from random bits by hand: it must be exactly the text str(UUID)
    writes, with the version and variant bits of a UUID4."""
    ids = [new_trace_id() for _ in range(1000)]
    for trace_id in ids:
        parsed = uuid.UUID(trace_id)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == trace_id
    assert len(set(ids)) == len(ids)


def test_unprintable_trace_id_is_replaced(start_kit_server: StartKit) -> None:
    server = start_kit_server()
    response = httpx.get(f"{server.url}/relay", headers={"X-Trace-ID": "x" * 500}, timeout=10)
    assert response.headers["X-Trace-ID"] != "x" * 500
    assert uuid.UUID(response.headers["X-Trace-ID"])


def test_log_lines_are_json_with_required_fields(start_kit_server: StartKit) -> None:
    server = start_kit_server(LOG_LEVEL="DEBUG")
    httpx.get(f"{server.url}/health", timeout=5)
    server.process.stop()
    lines = [line for line in server.process.log().splitlines() if line.strip()]
    assert lines and all(line.startswith("{") for line in lines)
    for event in log_records(server.process.log()):
        assert {"timestamp", "level", "service", "event"} <= set(event)
        assert event["service"] == "kit_server"


def test_a_callers_trace_context_is_carried_on_without_an_exporter(
    start_kit_server: StartKit,
) -> None:
    """No span is recorded without OTEL_EXPORTER_OTLP_ENDPOINT, but a caller's W3C context
    still reaches the calls the handler makes; a call without one carries none."""
    server = start_kit_server()
    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    request = pb.PlanRequest(prompt=SHOW_TRACE_CONTEXT)
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = pb_grpc.ModelGatewayStub(channel)
        traced = stub.GetPlan(request, metadata=(("traceparent", caller),), timeout=10)
        untraced = stub.GetPlan(request, timeout=10)
    assert json.loads(traced.plan) == {"traceparent": caller}
    assert json.loads(untraced.plan) == {}


def test_start_up_lines_are_out_at_once_and_a_calls_line_within_its_batch(
    start_kit_server: StartKit,
) -> None:
    """A served service batches its lines (here up to 5 s): its start-up lines are in the
    log as soon as it answers, a call's lines come with their batch, and stopping writes
    what waits."""
    server = start_kit_server(LOG_FLUSH_MS="5000")
    assert log_events(server.process, "serving")
    trace_id = f"test-{uuid.uuid4()}"
    reply = httpx.get(f"{server.url}/relay", headers={"X-Trace-ID": trace_id}, timeout=10)
    assert reply.status_code == 200
    assert trace_id not in server.process.log(), "written at once, not in a batch"
    assert logged(server.process, "http_request", trace_id=trace_id)
    httpx.get(f"{server.url}/relay", headers={"X-Trace-ID": "last"}, timeout=10)
    server.process.stop()
    assert '"last"' in server.process.log()
    assert '"event": "stopped"' in server.process.log().splitlines()[-1]
