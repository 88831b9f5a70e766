"""A run's namespace and knowledge-base choice, end to end: texts ingested into a namespace
through memory's /memory/ingest are what the run's context.retrieved event shows, a run
restricted to one KB gets matches from that KB only, and a run resumed after an approval
searches the same namespace and KBs again. The model is a loopback OpenAI fake."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import pytest

from tests.support.core_services import CoreStack, PlannerClient
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.scripted_runs import (
    FINAL,
    events_of,
    printing,
    reply_gate,
    scripted_gateway,
    scripted_model,
    start_run,
)
from tests.support.spawning import Spawner

__all__ = ["reply_gate", "scripted_gateway", "scripted_model"]  # fixtures used here
APPROVAL = "tool.approval_required"


@pytest.fixture(scope="module")
def planner(
    core_stack: CoreStack, module_spawn: Spawner, gateway: str, tmp_path_factory: Any
) -> PlannerClient:
    workdir = tmp_path_factory.mktemp("knowledge-planner")
    return core_stack.start_planner(
        module_spawn,
        workdir,
        MODEL_GATEWAY_ADDR=gateway,
        AGENT_TOOL_APPROVAL="execute_code",
        AGENT_GATEWAY_TIMEOUT_SECONDS="300",
    )


@pytest.fixture(scope="module")
def namespace(core_stack: CoreStack) -> dict[str, str]:
    """A fresh namespace whose Domain-KB and Body-KB each hold one distinctive text."""
    name = f"acme-{uuid.uuid4().hex[:6]}"
    texts = {
        "namespace": name,
        "Domain-KB": f"The wombat-{name} ledger closes every quarter on the fourth day.",
        "Body-KB": f"Bandicoot-{name} deployments roll out to two regions at a time.",
    }
    for kb in ("Domain-KB", "Body-KB"):
        document = {"text": texts[kb], "source": f"{kb}.md"}
        body = {"knowledge_base": kb, "namespace": name, "documents": [document]}
        reply = httpx.post(f"{core_stack.memory.url}/memory/ingest", json=body, timeout=60)
        assert reply.status_code == 200, reply.text
    return texts


def retrieved(planner: PlannerClient, run_id: str) -> list[dict[str, Any]]:
    """The context.retrieved events of a run that has ended."""
    return [e.data for e in events_of(planner, run_id) if e.event == "context.retrieved"]


def texts_of(context: dict[str, Any]) -> str:
    return "\n".join(match["text"] for match in context["retrieved"])


def get_run(planner: PlannerClient, run_id: str) -> dict[str, Any]:
    reply = httpx.get(f"{planner.url}/runs/{run_id}", headers=planner.headers(), timeout=10)
    return dict(reply.json())


def test_a_run_in_a_namespace_retrieves_what_was_ingested_there(
    planner: PlannerClient, namespace: dict[str, str], gate: threading.Event
) -> None:
    question = "when does the wombat ledger close"
    run = start_run(planner, question, namespace=namespace["namespace"])
    [context] = retrieved(planner, run["run_id"])
    assert context["namespace"] == namespace["namespace"]
    assert namespace["Domain-KB"] in texts_of(context)
    shown = get_run(planner, run["run_id"])
    assert shown["namespace"] == namespace["namespace"]
    assert shown["knowledge_bases"] == ["Mind-KB", "Domain-KB", "Body-KB", "Soul-KB"]
    plain = start_run(planner, question)
    [elsewhere] = retrieved(planner, plain["run_id"])
    assert elsewhere["namespace"] == "" and namespace["Domain-KB"] not in texts_of(elsewhere)
    assert get_run(planner, plain["run_id"])["namespace"] == ""


def test_a_run_restricted_to_one_knowledge_base_searches_only_it(
    planner: PlannerClient, namespace: dict[str, str], gate: threading.Event
) -> None:
    run = start_run(
        planner,
        "wombat ledger and bandicoot deployments",
        namespace=namespace["namespace"],
        knowledge_bases=["Body-KB"],
    )
    [context] = retrieved(planner, run["run_id"])
    assert context["knowledge_bases"] == ["Body-KB"]
    assert {m["knowledge_base"] for m in context["retrieved"]} == {"Body-KB"}
    assert namespace["Body-KB"] in texts_of(context)
    assert namespace["Domain-KB"] not in texts_of(context)
    assert get_run(planner, run["run_id"])["knowledge_bases"] == ["Body-KB"]


def test_a_run_resumed_after_approval_keeps_its_choice(
    planner: PlannerClient, namespace: dict[str, str], fake: FakeOpenAI, gate: threading.Event
) -> None:
    fake.push(Reply.text(printing("approved")), Reply.text(FINAL))
    run = start_run(
        planner,
        "check the wombat ledger",
        namespace=namespace["namespace"],
        knowledge_bases=["Domain-KB"],
    )
    [*_, asked] = events_of(planner, run["run_id"], until=APPROVAL)
    approve = {"call_id": asked.data["call_id"]}
    reply = httpx.post(
        f"{planner.url}/runs/{run['run_id']}/approve",
        json=approve,
        headers=planner.headers(),
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    first, after_resume = retrieved(planner, run["run_id"])
    assert after_resume["turn"] == 2
    for context in (first, after_resume):
        assert (context["namespace"], context["knowledge_bases"]) == (
            namespace["namespace"],
            ["Domain-KB"],
        )
        assert namespace["Domain-KB"] in texts_of(context)


def test_plan_audits_the_choice_and_without_one_is_unchanged(
    planner: PlannerClient, namespace: dict[str, str], gate: threading.Event
) -> None:
    session = f"s-choice-{uuid.uuid4().hex[:6]}"
    body = {
        "prompt": "wombat ledger",
        "session_id": session,
        "namespace": namespace["namespace"],
        "knowledge_bases": ["Domain-KB", "Body-KB"],
    }
    chose = httpx.post(f"{planner.url}/plan", json=body, headers=planner.headers(), timeout=90)
    assert chose.status_code == 200, chose.text
    plain = planner.plan("wombat ledger", session)
    assert plain.status_code == 200 and set(plain.json()) == {"result"}
    reply = httpx.get(
        f"{planner.url}/audit", params={"session_id": session}, headers=planner.headers()
    )
    starts = [r["data"] for r in reply.json()["rows"] if r["event_type"] == "PLAN_START"]
    assert len(starts) == 2
    chosen, default = sorted(starts, key=lambda data: "namespace" not in data)
    assert chosen["namespace"] == namespace["namespace"]
    assert chosen["kbs"] == ["Domain-KB", "Body-KB"]
    assert "namespace" not in default
    assert default["kbs"] == ["Mind-KB", "Domain-KB", "Body-KB", "Soul-KB"]
