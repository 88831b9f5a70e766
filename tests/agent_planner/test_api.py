"""The /plan and /run HTTP surface: every input error with its exact message, the 500
shape when the loop cannot run, body limits, probes and the trace id header."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.agent_planner.conftest import LonePlanner, start_lone_planner
from tests.support.logs import logged
from tests.support.spawning import Spawner

VALID = {"prompt": "hello", "session_id": "s-api"}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("not json", "not JSON: Expecting value at line 1 column 1"),
        ("", "the body is empty"),
        ('{"prompt": "p",\n "session_id": }', "not JSON: Expecting value at line 2 column 16"),
        ("[1, 2]", "the body must be a JSON object, got array"),
        ('"a string"', "the body must be a JSON object, got string"),
        (json.dumps({"prompt": 5, "session_id": "s"}), "prompt must be a string, got number"),
        (
            json.dumps({"prompt": "p", "session_id": ["s"]}),
            "session_id must be a string, got array",
        ),
        (
            json.dumps({**VALID, "resources": {"type": "image", "uri": "u"}}),
            "resources must be an array, got object",
        ),
        (
            json.dumps({**VALID, "resources": ["image"]}),
            "resources[0] must be an object, got string",
        ),
        (
            json.dumps({**VALID, "resources": [{"type": "a", "uri": "u"}, {"type": True}]}),
            "resources[1].type must be a string, got boolean",
        ),
        (b'{"prompt": "\xff"}', "not text: invalid start byte at byte 12"),
    ],
)
def test_malformed_bodies_are_invalid_request_body_naming_the_problem(
    lone_planner: LonePlanner, body: str | bytes, detail: str
) -> None:
    """The SPEC's exact message stays in `error`; `detail` says what is wrong."""
    for path in ("/plan", "/runs"):
        reply = lone_planner.post(path, body)
        assert reply.status_code == 400
        assert reply.json() == {"error": "Invalid request body", "detail": detail}


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"prompt": "hello"},
        {"session_id": "s"},
        {"prompt": "", "session_id": "s"},
        {"prompt": "hello", "session_id": "   "},
        {"prompt": None, "session_id": "s"},
    ],
)
def test_missing_prompt_or_session_is_rejected(
    lone_planner: LonePlanner, fields: dict[str, object]
) -> None:
    reply = lone_planner.post("/plan", json.dumps(fields))
    assert reply.status_code == 400
    assert reply.json() == {"error": "Prompt and session_id are required"}


@pytest.mark.parametrize(
    ("resources", "index"),
    [
        ([{"type": "", "uri": "file:///a"}], 0),
        ([{"type": "image", "uri": "file:///a"}, {"type": "audio"}], 1),
        ([{"type": "image", "uri": "a"}, {"type": "file", "uri": "b"}, {"uri": "c"}], 2),
        ([{"type": "image", "uri": "  "}], 0),
    ],
)
def test_incomplete_resource_names_its_index(
    lone_planner: LonePlanner, resources: list[dict[str, str]], index: int
) -> None:
    reply = lone_planner.post("/run", json.dumps({**VALID, "resources": resources}))
    assert reply.status_code == 400
    assert reply.json() == {"error": f"resources[{index}] must include non-empty type and uri"}


def test_gateway_unreachable_is_a_500_with_the_reason(lone_planner: LonePlanner) -> None:
    for path in ("/plan", "/run"):
        reply = lone_planner.post(path, json.dumps(VALID))
        assert reply.status_code == 500
        error = reply.json()["error"]
        assert error.startswith("Agent execution failed: GetPlan: UNAVAILABLE")


def test_oversized_body_is_413(lone_planner: LonePlanner) -> None:
    huge = json.dumps({**VALID, "prompt": "x" * (1024 * 1024 + 10)})
    reply = lone_planner.post("/plan", huge)
    assert reply.status_code == 413
    assert "too large" in reply.json()["error"]


def test_trace_id_is_echoed_or_generated(lone_planner: LonePlanner) -> None:
    given = lone_planner.post("/plan", "{}", **{"X-Trace-ID": "api-trace-1"})
    assert given.headers["X-Trace-ID"] == "api-trace-1"
    generated = lone_planner.post("/plan", "{}").headers["X-Trace-ID"]
    assert uuid.UUID(generated).version == 4


def test_probes_answer_with_every_dependency_down(spawn: Spawner, tmp_path: Path) -> None:
    # Its own planner: the shared one's breakers open as other tests call the dead gateway.
    planner = start_lone_planner(spawn, tmp_path)
    health = planner.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["service"] == "agent-planner"
    assert health.json()["breakers"] == {"model_gateway": "closed", "memory_rag": "closed"}
    assert planner.get("/live").json() == {"status": "ok"}
    assert planner.get("/ready").json() == {"status": "ok"}


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_json_nested_past_the_limit_is_a_400_naming_it(
    lone_planner: LonePlanner, content_type: str
) -> None:
    deep = '{"prompt": "p", "session_id": "s", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    reply = lone_planner.post("/plan", deep, **{"Content-Type": content_type})
    assert reply.status_code == 400
    assert reply.json() == {
        "error": "request body refused: JSON nested deeper than 64 levels (limit 64)"
    }


def test_ready_reads_the_audit_table_and_fails_once_the_file_is_gone(
    spawn: Spawner, tmp_path: Path
) -> None:
    planner = start_lone_planner(spawn, tmp_path)
    assert planner.get("/ready").json() == {"status": "ok"}
    planner.post("/plan", json.dumps(VALID))  # a PLAN_START row is written
    (tmp_path / "pagi_audit.db").write_bytes(b"")
    reply = planner.get("/ready")
    assert reply.status_code == 503
    assert reply.json() == {"status": "unavailable"}
    [event] = logged(planner.process, "audit_log_unreadable")
    assert "no such table: audit_log" in event["error"]


def test_a_session_id_memory_would_refuse_is_a_400_up_front(lone_planner: LonePlanner) -> None:
    for path in ("/plan", "/runs"):
        too_long = lone_planner.post(path, json.dumps({**VALID, "session_id": "s" * 257}))
        assert too_long.status_code == 400, path
        assert too_long.json() == {"error": "session_id: at most 256 characters (got 257)"}
    at_limit = lone_planner.post("/plan", json.dumps({**VALID, "session_id": "s" * 256}))
    assert at_limit.status_code == 500  # accepted; the loop then fails on the missing gateway


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"namespace": 7}, "namespace: must be a string"),
        ({"namespace": "a.b"}, "namespace: use 3-62 letters"),
        ({"namespace": "x"}, "namespace: use 3-62 letters"),
        ({"knowledge_bases": "Domain-KB"}, "knowledge_bases: must be a list"),
        ({"knowledge_bases": ["Domain-KB", 3]}, "knowledge_bases: must be a list"),
        ({"knowledge_bases": ["Heart-KB"]}, "knowledge_bases: unknown knowledge base 'Heart-KB'"),
    ],
)
def test_a_bad_namespace_or_knowledge_base_list_is_a_400_naming_the_field(
    lone_planner: LonePlanner, extra: dict[str, object], message: str
) -> None:
    for path in ("/plan", "/runs"):
        reply = lone_planner.post(path, json.dumps({**VALID, **extra}))
        assert reply.status_code == 400, path
        assert reply.json()["error"].startswith(message), reply.text
