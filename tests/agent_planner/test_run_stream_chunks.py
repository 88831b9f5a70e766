"""How a run's events become SSE writes: events ready together share one write, a write
never runs past the terminal event, and a long backlog is cut into bounded writes."""

from __future__ import annotations

from services.agent_planner.runs.records import RunEvent
from services.agent_planner.runs.stream import CHUNK_BYTES, chunks, encode_event


def event(seq: int, kind: str = "plan.delta", text: str = "x") -> RunEvent:
    return RunEvent("run_1", seq, kind, {"delta": text})


def test_events_ready_together_go_out_in_one_write() -> None:
    events = [event(1, "run.queued"), event(2, "run.started"), event(3)]
    assert list(chunks(events)) == [(b"".join(map(encode_event, events)), 3, False)]


def test_a_write_ends_at_the_terminal_event() -> None:
    events = [event(1), event(2, "run.succeeded"), event(3)]
    written = list(chunks(events))
    assert written == [(encode_event(events[0]) + encode_event(events[1]), 2, True)]


def test_a_backlog_is_cut_into_bounded_writes() -> None:
    big = "y" * (CHUNK_BYTES // 4)
    events = [event(seq, text=big) for seq in range(1, 11)]
    written = list(chunks(events))
    assert len(written) > 1
    assert all(len(data) < CHUNK_BYTES + len(encode_event(events[0])) for data, _, _ in written)
    assert b"".join(data for data, _, _ in written) == b"".join(map(encode_event, events))
    assert [seq for _, seq, _ in written][-1] == 10
