"""Health and reflection on a kit-built gRPC server, checked with the real grpcurl binary."""

from __future__ import annotations

import json

from tests.kit.conftest import StartKit
from tests.support.grpcurl import grpcurl, grpcurl_json


def test_reflection_lists_services(start_kit_server: StartKit) -> None:
    server = start_kit_server()
    listed = grpcurl("-plaintext", server.address, "list")
    assert listed.returncode == 0, listed.stderr
    services = set(listed.stdout.split())
    assert {"modelgateway.ModelGateway", "grpc.health.v1.Health"} <= services
    described = grpcurl("-plaintext", server.address, "describe", "modelgateway.ModelGateway")
    assert described.returncode == 0, described.stderr
    assert "rpc GetPlan ( .modelgateway.PlanRequest ) returns ( .modelgateway.PlanResponse )" in (
        described.stdout
    )
    message = grpcurl("-plaintext", server.address, "describe", "modelgateway.RAGContextRequest")
    assert "string namespace = 4;" in message.stdout


def test_health_check_and_call_without_proto_files(start_kit_server: StartKit) -> None:
    server = start_kit_server()
    health = grpcurl_json(server.address, "grpc.health.v1.Health/Check", {})
    assert health == {"status": "SERVING"}
    named = grpcurl_json(
        server.address, "grpc.health.v1.Health/Check", {"service": "modelgateway.ModelGateway"}
    )
    assert named == {"status": "SERVING"}
    reply = grpcurl_json(server.address, "modelgateway.ModelGateway/GetPlan", {"prompt": "hi"})
    assert reply["plan"] == "hi"


def test_unknown_health_service_is_not_found(start_kit_server: StartKit) -> None:
    server = start_kit_server()
    result = grpcurl(
        "-plaintext",
        "-d",
        json.dumps({"service": "nope.Nope"}),
        server.address,
        "grpc.health.v1.Health/Check",
    )
    assert result.returncode != 0
    assert "NotFound" in result.stderr or "NOT_FOUND" in result.stderr


def test_sigterm_stops_gracefully(start_kit_server: StartKit) -> None:
    server = start_kit_server()
    assert server.process.stop() == 0
    assert '"event": "stopped"' in server.process.log()
