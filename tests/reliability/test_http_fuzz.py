"""Schemathesis against the planner's and memory's OpenAPI schemas: no 5xx for any
generated request (with a healthy stack the planner's documented 500 must not occur
either), and every service healthy afterwards."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability.service_health import assert_stack_healthy
from tests.support.core_services import CoreStack

pytestmark = pytest.mark.reliability

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
NON_BLANK = {"type": "string", "minLength": 1}
# SPEC §4.1's /plan body. The planner reads its body by hand (to answer the SPEC's own 400
# messages), so its generated schema has no request body; without one every generated
# /plan (and /runs) would be empty and the agent loop would never run.
PLAN_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["prompt", "session_id"],
                "properties": {
                    "prompt": NON_BLANK,
                    "session_id": NON_BLANK,
                    "resources": {
                        "type": "array",
                        "maxItems": 3,
                        "items": {
                            "type": "object",
                            "required": ["type", "uri"],
                            "properties": {"type": NON_BLANK, "uri": NON_BLANK},
                        },
                    },
                },
            }
        }
    },
}


def fetch_schema(base_url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    reply = httpx.get(f"{base_url}/openapi.json", headers=headers, timeout=10)
    reply.raise_for_status()
    return reply.json()


def with_plan_body(schema: dict[str, Any]) -> dict[str, Any]:
    for path in ("/plan", "/run", "/runs"):
        operation = schema["paths"][path]["post"]
        operation.setdefault("requestBody", PLAN_BODY)
    return schema


def run_schemathesis(
    schema: dict[str, Any], base_url: str, workdir: Path, max_examples: int, *headers: str
) -> str:
    """Run the schemathesis CLI (checks: no server errors); fail with its output if it fails."""
    schema_file = workdir / "openapi.json"
    schema_file.write_text(json.dumps(schema))
    argv = [
        str(SCHEMATHESIS),
        "run",
        str(schema_file),
        "--url",
        base_url,
        "--checks",
        "not_a_server_error",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(max_examples),
        "--seed",
        "20261123",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        *(arg for header in headers for arg in ("--header", header)),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=workdir)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    return output


def plans_completed(stack: CoreStack) -> float:
    found = re.search(
        r'^agent_plan_total\{outcome="success"\} (\S+)$', stack.planner.metrics(), re.M
    )
    return float(found.group(1)) if found else 0.0


def test_planner_api_never_answers_5xx(stack: CoreStack, tmp_path: Path) -> None:
    before = plans_completed(stack)
    schema = with_plan_body(fetch_schema(stack.planner.url, stack.planner.headers()))
    run_schemathesis(schema, stack.planner.url, tmp_path, 30, f"X-API-Key: {stack.planner.api_key}")
    assert plans_completed(stack) - before >= 20, "the fuzzing hardly ever ran the agent loop"
    assert_stack_healthy(stack, timeout=5)


def test_memory_api_never_answers_5xx(stack: CoreStack, tmp_path: Path) -> None:
    run_schemathesis(fetch_schema(stack.memory.url), stack.memory.url, tmp_path, 60)
    assert_stack_healthy(stack, timeout=5)


def nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


# Inputs a generated schema never produces but an attacker does; each must get a 4xx.
HOSTILE_BODIES: dict[str, bytes] = {
    "nested 900 levels in an extra field": (
        '{"session_id": "s", "prompt": "p", "x": ' + nested(900) + "}"
    ).encode(),
    "nested 5000 levels": b"[" * 5000 + b"]" * 5000,
    "NaN": b'{"session_id": "s", "prompt": "p", "score": NaN}',
    "infinite number": b'{"session_id": "s", "prompt": "p", "score": 1e999}',
    "session_id of 300 characters": b'{"session_id": "' + b"s" * 300 + b'", "prompt": "p"}',
    "invalid UTF-8": b'{"session_id": "\xff\xfe", "prompt": "p"}',
}


def post_routes(base_url: str, headers: dict[str, str]) -> list[str]:
    schema = fetch_schema(base_url, headers)
    return sorted(path for path, ops in schema["paths"].items() if "post" in ops)


def test_hostile_bodies_never_answer_5xx(stack: CoreStack) -> None:
    planner_headers = stack.planner.headers()
    services = {
        stack.planner.url: planner_headers,
        stack.memory.url: {},
        f"http://127.0.0.1:{stack.ports.sandbox_http}": {},
        f"http://127.0.0.1:{stack.ports.gateway_http}": {},
    }
    answers: dict[str, int] = {}
    with httpx.Client(timeout=60) as client:
        for base_url, headers in services.items():
            for path in post_routes(base_url, headers):
                for case, body in HOSTILE_BODIES.items():
                    reply = client.post(
                        f"{base_url}{path}",
                        content=body,
                        headers={**headers, "Content-Type": "application/json"},
                    )
                    answers[f"{base_url}{path} {case}"] = reply.status_code
    assert len(answers) >= 6 * len(HOSTILE_BODIES)
    failed = {case: status for case, status in answers.items() if status >= 500}
    assert not failed, failed
    assert_stack_healthy(stack, timeout=5)
