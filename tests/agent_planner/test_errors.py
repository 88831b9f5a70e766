"""Which failures of a dependency call become DependencyError (sent to the model as a tool
error or ending the run as "dependency down") and which surface as the bugs they are."""

from __future__ import annotations

import grpc
import pytest

from services.agent_planner.breaker import BreakerOpenError
from services.agent_planner.errors import DependencyError, call_dependency
from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from tests.support.processes import free_port


async def test_a_grpc_error_from_a_real_channel_becomes_a_dependency_error() -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}") as channel:
        stub = pb_grpc.ToolServiceStub(channel)
        request = pb.ToolRequest(tool_name="web_search", args_json="{}")
        with pytest.raises(DependencyError, match=r"^ExecuteTool\(web_search\): UNAVAILABLE"):
            await call_dependency(
                "ExecuteTool(web_search)", lambda: stub.ExecuteTool(request, timeout=5)
            )


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (BreakerOpenError("gateway", 3.0), "GetPlan: circuit breaker for gateway is open"),
        (TimeoutError(), "GetPlan: timed out"),
        (ConnectionRefusedError("refused"), "GetPlan: refused"),
    ],
)
async def test_breaker_and_transport_errors_become_dependency_errors(
    error: Exception, message: str
) -> None:
    async def operation() -> None:
        raise error

    with pytest.raises(DependencyError, match=f"^{message}") as caught:
        await call_dependency("GetPlan", operation)
    assert caught.value.__cause__ is error


@pytest.mark.parametrize("bug", [KeyError("matches"), TypeError("bad operand"), ValueError()])
async def test_a_bug_in_the_planner_surfaces_unchanged(bug: Exception) -> None:
    async def operation() -> None:
        raise bug

    with pytest.raises(type(bug)) as caught:
        await call_dependency("GetRAGContext", operation)
    assert caught.value is bug
