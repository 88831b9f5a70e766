"""A provider key never leaves the system: the gateway's provider answers 401 quoting the
canary key it was sent (in the body and in every header it can), and the key shows in none
of the /plan answer, a run's events, the audit rows, the planner's or gateway's logs, or the
planner's metrics."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx

from tests.support.core_services import CoreStack
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.logs import wait_for_batches
from tests.support.spawning import Spawner
from tests.support.sse import SseEvent, parse_stream

CANARY = "sk-canary-e2e-3c91f0a7d55b42e8"


def test_a_provider_quoting_the_key_leaks_it_nowhere(
    core_stack: CoreStack, spawn: Spawner, tmp_path: Path
) -> None:
    with FakeOpenAI(Reply.error(401, echo_key=True)) as fake:
        gateway = core_stack.start_openai_gateway(
            spawn, tmp_path / "gateway", fake.base_url, OPENAI_API_KEY=CANARY
        )
        planner = core_stack.start_planner(spawn, tmp_path / "planner", MODEL_GATEWAY_ADDR=gateway)
        trace = f"redact-{uuid.uuid4().hex[:8]}"
        answer = planner.plan("Plan a trip", "s-redact", trace_id=trace)
        headers = planner.headers(Accept="text/event-stream")
        body = {"prompt": "Plan a trip", "session_id": "s-redact-run"}
        with httpx.stream(
            "POST", f"{planner.url}/plan", json=body, headers=headers, timeout=60
        ) as r:
            events = [e for e in parse_stream(r.iter_lines()) if isinstance(e, SseEvent)]
        assert fake.requests[0].headers["authorization"] == f"Bearer {CANARY}"
    assert answer.status_code >= 400
    assert "Incorrect API key provided" in answer.text, "the provider's own words get through"
    assert events[-1].event == "run.failed"
    wait_for_batches()  # every line of the failed run is written
    gateway_log = "".join(path.read_text() for path in (tmp_path / "gateway").glob("*.log"))
    assert "Incorrect API key provided" in gateway_log
    outputs = {
        "/plan answer": answer.text,
        "run events": json.dumps([e.data for e in events]),
        "audit rows": json.dumps(planner.audit_rows(trace)),
        "planner log": planner.process.log(),
        "planner metrics": planner.metrics(),
        "gateway log": gateway_log,
    }
    for where, text in outputs.items():
        assert CANARY not in text, f"the key leaked into the {where}"
        assert CANARY[-16:] not in text, f"part of the key leaked into the {where}"
