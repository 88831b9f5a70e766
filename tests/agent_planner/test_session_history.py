"""What a run leaves in the session history: the user's prompt and a small final answer
(never the framed planner input), stamped in the one UTC form by a planner whose local time
zone is not UTC."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.support.core_services import CoreStack, PlannerClient
from tests.support.spawning import Spawner
from tests.support.timestamps import SESSION_STAMP

NOT_UTC = "XYZ+7"  # UTC-07:00 as a POSIX rule: no tz database needed
SMALL_ANSWER_BYTES = 2048


@pytest.fixture(scope="module")
def planner_off_utc(
    core_stack: CoreStack, module_spawn: Spawner, tmp_path_factory: pytest.TempPathFactory
) -> PlannerClient:
    return core_stack.start_planner(module_spawn, tmp_path_factory.mktemp("planner-tz"), TZ=NOT_UTC)


def history(stack: CoreStack, session_id: str) -> list[dict[str, Any]]:
    reply = httpx.get(
        f"{stack.memory.url}/memory/latest", params={"session_id": session_id}, timeout=10
    )
    return list(reply.json()["messages"])


def test_hello_answers_stay_small_turn_after_turn(
    core_stack: CoreStack, planner_off_utc: PlannerClient
) -> None:
    """Each answer used to carry the framed input, history included, so it grew every turn."""
    for turn in range(4):
        reply = planner_off_utc.plan("hello", "s-small")
        assert reply.status_code == 200, reply.text
        result = reply.json()["result"]
        assert len(result.encode()) < SMALL_ANSWER_BYTES, (turn, len(result))
        assert json.loads(result)["prompt"] == "hello"
    stored = history(core_stack, "s-small")
    assert [m["content"] for m in stored if m["role"] == "user"] == ["hello"] * 4
    assert all(len(m["content"]) < SMALL_ANSWER_BYTES for m in stored)


def test_a_tool_run_stores_the_users_prompt_not_the_grown_one(
    core_stack: CoreStack, planner_off_utc: PlannerClient
) -> None:
    prompt = "Search the web for tide tables in Lisbon"
    reply = planner_off_utc.plan(prompt, "s-tool-history")
    assert reply.status_code == 200, reply.text
    final = reply.json()["result"]
    assert json.loads(final)["prompt"] == prompt
    stored = [(m["role"], m["content"]) for m in history(core_stack, "s-tool-history")]
    assert [role for role, _ in stored] == ["user", "assistant"] * 3
    assert [content for _, content in stored[::2]] == ["[tool-plan]", "[tool-output]", prompt]
    assert stored[-1] == ("assistant", final)


def test_the_planner_stamps_history_in_utc_whatever_its_time_zone(
    core_stack: CoreStack, planner_off_utc: PlannerClient
) -> None:
    before = datetime.now(UTC)
    assert planner_off_utc.plan("hello", "s-stamped").status_code == 200
    after = datetime.now(UTC)
    stamps = [m["stored_at"] for m in history(core_stack, "s-stamped")]
    assert len(stamps) == 2
    for stamp in stamps:
        assert SESSION_STAMP.match(stamp), stamp
        assert before <= datetime.fromisoformat(stamp) <= after
