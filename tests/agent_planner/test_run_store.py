"""The run store on both backends (SQLite file, PostgreSQL), called directly: gap-free event
numbers under concurrency, one terminal event, paging, leases and retention."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from services.agent_planner.knowledge_choice import NO_CHOICE, KnowledgeChoice
from services.agent_planner.runs.records import NewRun, RunEnding, RunStatus
from services.agent_planner.runs.sql_store import SqlRunStore
from services.agent_planner.runs.store import RunNotFoundError, RunQuery
from services.agent_planner.runs.stream import encode_event
from services.kit.database import Database

CREATED = "2026-01-01T00:00:00.000Z"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlRunStore]:
    opened = SqlRunStore(Database(database_url), max_event_bytes=2048)
    await opened.open()
    yield opened
    await opened.database.close()


def new_run(run_id: str, session: str = "s") -> NewRun:
    return NewRun(run_id, session, f"trace-{run_id}", "prompt", [{"kind": "doc"}])


async def test_events_are_numbered_without_gaps_under_concurrency(store: SqlRunStore) -> None:
    queued = await store.create_run(new_run("r1"), CREATED)
    assert (queued.seq, queued.type) == (1, "run.queued")
    assert await store.start_run("r1", "owner-a", {"worker": 1}) is not None
    events = await asyncio.gather(
        *(store.append_event("r1", "tool.started", {"n": n, "turn": n % 3}) for n in range(40))
    )
    assert sorted(e.seq for e in events if e) == list(range(3, 43))
    stored = await store.events_after("r1", 0, 1000)
    assert [e.seq for e in stored] == list(range(1, 43))
    assert (await store.events_after("r1", 40, 10))[0].seq == 41
    record = await store.get_run("r1")
    assert record is not None
    assert (record.status, record.owner, record.turns) == (RunStatus.RUNNING, "owner-a", 2)
    assert record.resources == [{"kind": "doc"}]


async def test_a_run_ends_once_and_nothing_follows(store: SqlRunStore) -> None:
    await store.create_run(new_run("r2"), CREATED)
    await store.start_run("r2", "a", {})
    done = RunEnding(RunStatus.SUCCEEDED, result="{}", turns=1)
    ending = await store.finish_after("r2", (), done)
    assert [event.type for event in ending] == ["run.succeeded"]
    assert await store.finish_after("r2", (), RunEnding(RunStatus.CANCELLED)) == []
    assert await store.append_event("r2", "tool.started", {}) is None
    assert await store.start_run("r2", "b", {}) is None
    record = await store.get_run("r2")
    assert record is not None and record.status is RunStatus.SUCCEEDED
    assert record.finished_at is not None and record.result == "{}"


async def test_held_events_are_stored_in_order_before_the_ending(store: SqlRunStore) -> None:
    await store.create_run(new_run("r5"), CREATED)
    await store.start_run("r5", "a", {})
    written = await store.append_events("r5", [("plan.delta", {"turn": 1}), ("x", {"turn": 2})])
    assert [(e.seq, e.type) for e in written] == [(3, "plan.delta"), (4, "x")]
    held = [("plan.received", {"turn": 3, "plan": "p"})]
    ended = await store.finish_after("r5", held, RunEnding(RunStatus.SUCCEEDED, result="p"))
    assert [(e.seq, e.type) for e in ended] == [(5, "plan.received"), (6, "run.succeeded")]
    record = await store.get_run("r5")
    assert record is not None and record.turns == 3  # the held event's turn was recorded
    late = await store.finish_after("r5", held, RunEnding(RunStatus.CANCELLED))
    assert late == [] and await store.append_events("r5", held) == []
    stored = await store.events_after("r5", 0, 100)
    assert [e.seq for e in stored] == [1, 2, 3, 4, 5, 6]


async def test_events_written_together_carry_their_writes_time(store: SqlRunStore) -> None:
    await store.create_run(new_run("r9"), CREATED)
    first = await store.append_events("r9", [("a", {}), ("b", {}), ("c", {})])
    await asyncio.sleep(0.01)
    second = await store.append_events("r9", [("d", {})])
    assert len({e.created_at for e in first}) == 1
    assert second[0].created_at > first[0].created_at
    stored = await store.events_after("r9", 0, 100)
    assert [e.created_at for e in stored[1:]] == [e.created_at for e in [*first, *second]]


async def test_a_run_created_started_has_both_first_events(store: SqlRunStore) -> None:
    queued, started = await store.create_started_run(new_run("r6"), CREATED, "owner-a")
    assert [(queued.seq, queued.type), (started.seq, started.type)] == [
        (1, "run.queued"),
        (2, "run.started"),
    ]
    record = await store.get_run("r6")
    assert record is not None and record.status is RunStatus.RUNNING
    assert record.owner == "owner-a" and record.started_at == CREATED
    assert await store.start_run("r6", "owner-b", {}) is None  # no second start
    appended = await store.append_event("r6", "context.retrieved", {"turn": 1})
    assert appended is not None and appended.seq == 3


async def test_list_is_newest_first_with_filters_and_paging(store: SqlRunStore) -> None:
    for n in range(5):
        await store.create_run(new_run(f"p{n}", "even" if n % 2 == 0 else "odd"), CREATED)
    page = await store.list_runs(RunQuery(limit=2))
    assert [r.run_id for r in page] == ["p4", "p3"]
    after = await store.list_runs(RunQuery(limit=2, before="p3"))
    assert [r.run_id for r in after] == ["p2", "p1"]
    evens = await store.list_runs(RunQuery(session_id="even", status=RunStatus.QUEUED))
    assert [r.run_id for r in evens] == ["p4", "p2", "p0"]
    with pytest.raises(RunNotFoundError):
        await store.list_runs(RunQuery(before="never"))


async def test_heartbeats_keep_a_lease_and_claim_queued_runs(store: SqlRunStore) -> None:
    await store.create_run(new_run("alive"), CREATED)
    await store.create_run(new_run("orphan"), CREATED)
    await store.start_run("orphan", "dead-owner", {})
    await store.heartbeat("live-owner", ["alive", "orphan"], now=4_000_000_000.0)
    stale = await store.stale_runs(heartbeat_before=3_999_999_999.0)
    assert [r.run_id for r in stale] == ["orphan"]  # another owner's run is not claimed
    alive = await store.get_run("alive")
    assert alive is not None and alive.owner == "live-owner"


async def test_retention_deletes_old_finished_runs_and_their_events(store: SqlRunStore) -> None:
    for run_id in ("old", "open"):
        await store.create_run(new_run(run_id), CREATED)
    await store.finish_after("old", (), RunEnding(RunStatus.FAILED, error="x"))
    assert await store.delete_finished_before("2000-01-01T00:00:00.000Z") == 0
    assert await store.delete_finished_before("9999-01-01T00:00:00.000Z") == 1
    assert await store.get_run("old") is None
    assert await store.events_after("old", 0, 10) == []
    assert await store.get_run("open") is not None


async def test_event_payloads_are_bounded(store: SqlRunStore) -> None:
    await store.create_run(new_run("big"), CREATED)
    event = await store.append_event("big", "tool.finished", {"output": "x" * 10_000})
    assert event is not None and event.data["truncated"] is True
    [stored] = await store.events_after("big", 1, 10)
    assert len(str(stored.data)) < 2048


async def test_events_carry_their_sse_text_live_and_replayed(store: SqlRunStore) -> None:
    """Serialised once: the stored JSON text goes out on the SSE line, never a second dump;
    a cut event (whose stored preview is ASCII-escaped) is dumped for SSE as before."""
    await store.create_run(new_run("text"), CREATED)
    data = {"output": "café ☕", "turn": 1, "latency_ms": 1.5}
    live = await store.append_event("text", "tool.finished", data)
    big = await store.append_event("text", "tool.finished", {"output": "é" * 10_000})
    assert live is not None and big is not None
    [replayed, replayed_big] = await store.events_after("text", 1, 10)
    assert live.text == replayed.text == json.dumps(data, ensure_ascii=False)
    assert replayed.data == data
    assert big.text is None and replayed_big.text is None
    assert encode_event(replayed) == f"event: tool.finished\ndata: {live.text}\nid: 2\n\n".encode()
    dumped = json.dumps(replayed_big.data, ensure_ascii=False)
    assert encode_event(replayed_big) == f"event: tool.finished\ndata: {dumped}\nid: 3\n\n".encode()


async def test_a_runs_namespace_and_knowledge_bases_are_kept(store: SqlRunStore) -> None:
    """What a resumed run (from get_run after a decision, or stale_runs after a restart)
    and GET /runs/{id} read back; a run without a choice reads as none."""
    choice = KnowledgeChoice("acme", ("Body-KB", "Domain-KB"))
    await store.create_run(replace(new_run("chose"), knowledge=choice), CREATED)
    await store.create_run(new_run("plain"), CREATED)
    await store.start_run("chose", "dead-owner", {})
    record = await store.get_run("chose")
    assert record is not None and record.knowledge == choice
    assert record.new_run().knowledge == choice
    assert record.as_json()["namespace"] == "acme"
    assert record.as_json()["knowledge_bases"] == ["Body-KB", "Domain-KB"]
    stale = await store.stale_runs(heartbeat_before=4_000_000_000.0)
    assert {r.run_id: r.knowledge for r in stale} == {"chose": choice, "plain": NO_CHOICE}
    listed = {r.run_id: r.knowledge for r in await store.list_runs(RunQuery())}
    assert listed == {"chose": choice, "plain": NO_CHOICE}
    await store.finish_after("chose", (), RunEnding(RunStatus.SUCCEEDED, result="{}"))
    assert await store.delete_finished_before("9999-01-01T00:00:00.000Z") == 1
    await store.create_run(new_run("chose"), CREATED)  # the id's old choice went with it
    again = await store.get_run("chose")
    assert again is not None and again.knowledge == NO_CHOICE
