"""ToolService over real gRPC: request parsing, unknown tools, reflection via grpcurl."""

from __future__ import annotations

import json

import grpc
import pytest

from tests.sandbox.conftest import Sandbox
from tests.support.grpcurl import grpcurl, grpcurl_json


def test_unknown_tool_echoes_its_args(sandbox: Sandbox) -> None:
    reply = sandbox.tool("teleport", {"to": "mars"})
    assert reply.status == "unknown_tool"
    assert json.loads(reply.stdout) == {
        "message": "Unknown tool",
        "tool_name": "teleport",
        "echo": {"to": "mars"},
    }


def test_blank_args_json_means_an_empty_object(sandbox: Sandbox) -> None:
    reply = sandbox.call("demo", "  ")
    assert reply.status == "unknown_tool"
    assert json.loads(reply.stdout)["echo"] == {}


@pytest.mark.parametrize(
    ("args_json", "detail"),
    [("{not json", "invalid args_json: "), ("[1, 2]", "expected a JSON object, got list")],
)
def test_bad_args_json_is_invalid_argument(sandbox: Sandbox, args_json: str, detail: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        sandbox.call("web_search", args_json)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("invalid args_json: ")
    assert detail in caught.value.details()


def test_negative_limits_are_invalid_argument(sandbox: Sandbox) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        sandbox.call("execute_code", '{"code": "pass"}', timeout_seconds=-1)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "timeout_seconds" in caught.value.details()


def test_weather_is_a_labelled_demo_stub(sandbox: Sandbox) -> None:
    reply = sandbox.tool("weather_tool", {"city": "Lisbon"})
    body = json.loads(reply.stdout)
    assert reply.status == "ok"
    assert (body["city"], body["temperature"], body["conditions"]) == ("Lisbon", "22C", "Sunny")
    assert "demo stub" in body["note"]
    assert sandbox.tool("weather_tool", {}).status == "invalid_args"


def test_grpcurl_lists_and_describes_tool_service(sandbox: Sandbox) -> None:
    listed = grpcurl("-plaintext", sandbox.address, "list")
    assert listed.returncode == 0, listed.stderr
    assert "modelgateway.ToolService" in listed.stdout.split()
    assert "grpc.health.v1.Health" in listed.stdout.split()
    described = grpcurl("-plaintext", sandbox.address, "describe", "modelgateway.ToolService")
    assert described.returncode == 0, described.stderr
    assert (
        "rpc ExecuteTool ( .modelgateway.ToolRequest ) returns ( .modelgateway.ToolResponse )"
        in (described.stdout)
    )


def test_grpcurl_executes_code(sandbox: Sandbox) -> None:
    body = {
        "tool_name": "execute_code",
        "args_json": json.dumps({"code": "print(2 ** 10)"}),
        "timeout_seconds": 10,
    }
    reply = grpcurl_json(sandbox.address, "modelgateway.ToolService/ExecuteTool", body)
    assert reply["status"] == "ok"
    assert json.loads(reply["stdout"])["stdout"] == "1024\n"


def test_grpc_health_is_serving(sandbox: Sandbox) -> None:
    reply = grpcurl_json(sandbox.address, "grpc.health.v1.Health/Check", {})
    assert reply["status"] == "SERVING"


def test_lone_surrogates_in_args_do_not_break_the_call(sandbox: Sandbox) -> None:
    reply = sandbox.call("demo", '{"text": "\\ud800"}')
    assert reply.status == "unknown_tool"
    assert json.loads(reply.stdout)["echo"] == {"text": "\ud800"}
    code = sandbox.call("execute_code", '{"code": "print(1) # \\ud800"}')
    assert code.status == "invalid_args"
    assert "not valid text" in code.stderr


def test_args_json_nested_past_the_limit_is_invalid_argument(sandbox: Sandbox) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        sandbox.call("web_search", '{"query": ' + "[" * 900 + "]" * 900 + "}")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == (
        "invalid args_json: JSON nested deeper than 64 levels (limit 64)"
    )
