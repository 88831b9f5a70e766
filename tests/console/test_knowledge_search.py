"""The console's RAG playground route over a real planner and memory: a query memory
refuses is the caller's error (400 naming the field), not a 5xx."""

from __future__ import annotations

import httpx

from tests.support.core_services import CoreStack


def test_a_namespace_memory_refuses_is_a_400_naming_it(core_stack: CoreStack) -> None:
    planner = core_stack.planner
    reply = httpx.post(
        f"{planner.url}/knowledge/search",
        json={"query": "tools", "namespace": "!"},
        headers=planner.headers(),
        timeout=30,
    )
    assert reply.status_code == 400, reply.text
    assert "INVALID_ARGUMENT: namespace" in reply.json()["error"]
