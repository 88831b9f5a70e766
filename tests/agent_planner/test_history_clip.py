"""A turn too big for memory's body limit is stored clipped and marked, never lost; and the
arithmetic that decides how much of each text to keep."""

from __future__ import annotations

import json
import uuid

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from services.agent_planner.history_clip import ENVELOPE_BYTES, encoded_size, fit_texts
from tests.support.core_services import CoreStack
from tests.support.logs import settled_log, wait_for_log

MEMORY_BODY_LIMIT = 1024 * 1024


def test_a_turn_over_memorys_body_limit_is_stored_clipped_and_marked(
    core_stack: CoreStack,
) -> None:
    session = f"huge-{uuid.uuid4()}"
    prompt = "Summarise this: " + "lorem ipsum dolor sit amet " * 22_000  # ~600 KB
    reply = core_stack.planner.plan(prompt, session, timeout=180)
    assert reply.status_code == 200, reply.text[:500]
    history = httpx.get(
        f"{core_stack.memory.url}/memory/latest", params={"session_id": session}, timeout=30
    ).json()["messages"]
    assert [m["role"] for m in history] == ["user", "assistant"]
    for message in history:
        assert message["clipped"] is True
        assert "characters dropped to fit memory]" in message["content"]
    assert prompt.startswith(history[0]["content"].split(" ...[clipped")[0])
    wait_for_log(core_stack["planner"], '"session_delta_clipped"')
    assert "HTTP 413" not in settled_log(core_stack["planner"])
    again = core_stack.planner.plan("And now in one line?", session, timeout=60)
    assert again.status_code == 200


def test_a_turn_within_the_limit_is_stored_as_it_is(core_stack: CoreStack) -> None:
    session = f"small-{uuid.uuid4()}"
    assert core_stack.planner.plan("Say hello", session).status_code == 200
    history = httpx.get(
        f"{core_stack.memory.url}/memory/latest", params={"session_id": session}, timeout=30
    ).json()["messages"]
    assert history[0]["content"] == "Say hello"
    assert all("clipped" not in m for m in history)


texts = st.lists(st.text(max_size=12_000), min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(texts=texts, limit=st.integers(min_value=16 * 1024, max_value=60_000))
def test_clipped_texts_fit_the_limit_and_keep_their_start(texts: list[str], limit: int) -> None:
    for copies in (1, 2):
        fitted = fit_texts(texts, limit, copies)
        if sum(encoded_size(t) for t in texts) * copies <= limit - ENVELOPE_BYTES:
            assert fitted == texts
            continue
        assert sum(encoded_size(t) for t in fitted) * copies <= limit - ENVELOPE_BYTES
        for original, kept in zip(texts, fitted, strict=True):
            if kept != original:
                start = kept.rsplit(" ...[clipped: ", 1)[0]
                assert original.startswith(start)
                assert kept.endswith("characters dropped to fit memory]")


def test_a_store_body_built_from_clipped_texts_is_under_memorys_limit() -> None:
    user, answer = fit_texts(["é" * 900_000, "{" * 700_000], MEMORY_BODY_LIMIT, copies=2)
    body = {
        "session_id": "s" * 256,
        "history": [
            {"role": "user", "content": user, "clipped": True},
            {"role": "assistant", "content": answer, "clipped": True},
        ],
        "prompt": user,
        "llm_response": {"text": answer},
        "stored_at": "2026-12-01T00:00:00.000Z",
    }
    assert len(json.dumps(body).encode()) <= MEMORY_BODY_LIMIT
