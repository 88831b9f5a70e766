"""The planner's domain errors; http.py maps them to HTTP responses in one place."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from services.agent_planner.breaker import BreakerOpenError
from services.kit.error_source import reported_by_provider

T = TypeVar("T")

# What a failed call to another service raises: the transport's errors and an open breaker.
# Anything else is a bug in the planner and must surface as one, not reach the model as a
# "Tool error".
TRANSPORT_ERRORS = (grpc.aio.AioRpcError, BreakerOpenError, TimeoutError, OSError)

# Codes that say the dependency itself is unwell (as opposed to rejecting our request).
UNHEALTHY_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)


class AgentLoopError(Exception):
    """The loop cannot finish; the message is the reason shown after "Agent execution failed"."""


class DependencyError(Exception):
    """A call to memory, the gateway or the sandbox failed; the message says which and why."""


class PlanContextUnsupported(Exception):
    """Memory does not serve GetPlanContext (an older memory): history and RAG context are
    fetched with one call each instead."""


class RagPartFailed(Exception):
    """GetPlanContext answered, but its RAG part failed (reply.rag_error): a dependency
    failure for the RAG breaker, while the reply's history part is still good."""

    def __init__(self, reply: Any) -> None:
        super().__init__(reply.rag_error)
        self.reply = reply


# The gateway process answers for these only when it raised them itself: the same codes
# marked as the provider's are the provider's health, which the gateway's cooldown handles.
GATEWAY_PROCESS_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


def is_gateway_process_failure(exc: BaseException) -> bool:
    """What the gateway breaker counts: the process unreachable, refusing connections or
    not answering within the planner's deadline; never an error about its provider."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code() in GATEWAY_PROCESS_CODES and not reported_by_provider(exc)
    return isinstance(exc, TimeoutError | ConnectionError | OSError)


def is_dependency_failure(exc: BaseException) -> bool:
    """What a circuit breaker counts: transport failures and unhealthy gRPC codes."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code() in UNHEALTHY_CODES
    return isinstance(exc, TimeoutError | ConnectionError | OSError | RagPartFailed)


def describe_rpc_error(call: str, exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{call}: {exc.code().name}: {exc.details() or 'no details'}"
    if isinstance(exc, BreakerOpenError):
        return f"{call}: {exc}"
    if isinstance(exc, TimeoutError):
        return f"{call}: {str(exc) or 'timed out'}"
    return f"{call}: {exc or type(exc).__name__}"


async def call_dependency(call: str, operation: Callable[[], Awaitable[T]]) -> T:
    """Await operation; its transport and breaker errors become DependencyError naming call."""
    try:
        return await operation()
    except TRANSPORT_ERRORS as exc:
        raise DependencyError(describe_rpc_error(call, exc)) from exc
