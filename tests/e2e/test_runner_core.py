"""The core stack started by `run_all_dev.py --profile core`, used as a user would: plain
HTTP /plan, the verify script, span export to an OTLP endpoint, and Ctrl-C at the end.

The tests share one run and are ordered: the last one stops it."""

from __future__ import annotations

import signal
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.devstack.environment import HUGE_PAGES
from tests.e2e.runner_harness import (
    RunnerRun,
    assert_all_gone,
    container_healthcheck,
    post_json,
    process_alive,
    run_runner_once,
    run_verify,
    runner_env,
)
from tests.support.logs import wait_for_batches
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.processes import free_port

CORE_SERVICES = {"redis", "memory", "sandbox", "gateway", "planner", "notifier"}
API_KEY = "e2e-key"
LOOP_CHILDREN = {"MemoryAccess.PlanContext", "PlanGeneration"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def core_run(
    tmp_path_factory: pytest.TempPathFactory, receiver: OtlpReceiver
) -> Iterator[RunnerRun]:
    workdir = tmp_path_factory.mktemp("core-run")
    # REDIS_ADDR points at a free port, so the runner starts its own redis-server.
    env = runner_env(workdir, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, PAGI_API_KEY=API_KEY)
    run = RunnerRun(workdir, env).start()
    pids: list[int] = []
    try:
        run.wait_ready()
        pids = list(run.pids_record()["pids"].values())
        yield run
    finally:
        run.force_cleanup(pids)


def plan(
    run: RunnerRun, prompt: str, session: str, key: str = API_KEY
) -> tuple[int, dict[str, str], Any]:
    return post_json(
        f"{run.url('AGENT_PLANNER_PORT')}/plan",
        {"prompt": prompt, "session_id": session, "resources": []},
        {"X-API-Key": key},
    )


def verify_env(run: RunnerRun, **extra: str) -> dict[str, str]:
    """What a user's shell holds when running the verify script against this stack."""
    return {
        "PATH": run.env["PATH"],
        "AGENT_URL": run.url("AGENT_PLANNER_PORT"),
        "PAGI_API_KEY": API_KEY,
        **extra,
    }


def test_the_runner_records_every_core_service_and_its_ports(core_run: RunnerRun) -> None:
    record = core_run.pids_record()
    assert record["profile"] == "core"
    assert set(record["pids"]) == CORE_SERVICES
    assert all(process_alive(pid) for pid in record["pids"].values())
    assert record["ports"]["planner"] == {"AGENT_PLANNER_PORT": core_run.port("AGENT_PLANNER_PORT")}
    assert record["started_at"].endswith("Z")
    for name in CORE_SERVICES:
        assert (core_run.workdir / "logs" / f"{name}.log").stat().st_size > 0, name
    output = core_run.output()
    assert "starting a local redis-server" in output
    assert "planner    | " in output  # service output is echoed to the console, prefixed


def test_plan_over_plain_http_returns_a_plan_and_a_trace_id(core_run: RunnerRun) -> None:
    status, headers, body = plan(core_run, "Generate a 3-step plan to tidy a garage", "e2e-plain")
    assert status == 200, body
    assert isinstance(body, dict) and '"steps"' in body["result"]
    assert headers.get("x-trace-id")


def test_services_run_with_huge_pages_for_malloc(core_run: RunnerRun) -> None:
    pids = core_run.pids_record()["pids"]
    for name in CORE_SERVICES - {"redis"}:
        environ = Path(f"/proc/{pids[name]}/environ").read_bytes().split(b"\0")
        assert b"GLIBC_TUNABLES=" + HUGE_PAGES.encode() in environ, name
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    if not thp.exists() or "[never]" in thp.read_text():
        pytest.skip("this kernel grants no transparent huge pages")
    rollup = Path(f"/proc/{pids['memory']}/smaps_rollup").read_text()
    huge_kb = int(rollup.split("AnonHugePages:")[1].split()[0])
    assert huge_kb >= 8 * 1024, rollup  # the embedding model's weights, at least in part


def test_every_service_shares_one_generated_internal_key_kept_out_of_the_output(
    core_run: RunnerRun,
) -> None:
    key_file = core_run.workdir / ".internal_api_key"
    key = key_file.read_text().strip()
    assert len(key) == 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    history = f"{core_run.url('MEMORY_PORT')}/memory/latest?session_id=e2e-plain"
    assert httpx.get(history, timeout=10).status_code == 401
    with_key = httpx.get(history, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert with_key.status_code == 200
    assert with_key.json()["messages"], "the planner's writes to memory carried the key"
    tool = {"tool_name": "web_search", "args": {"query": "x"}}
    sandbox = f"{core_run.url('RUST_SANDBOX_PORT')}/execute-tool"
    assert httpx.post(sandbox, json=tool, timeout=30).status_code == 401
    wait_for_batches()
    logs = [path.read_text() for path in (core_run.workdir / "logs").glob("*.log")]
    assert all(key not in text for text in [core_run.output(), *logs])


def test_verify_script_passes_against_the_bare_metal_stack(core_run: RunnerRun) -> None:
    result = run_verify(core_run.workdir, verify_env(core_run), "--bare-metal")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS notifier reported trace" in result.stdout
    assert "PASS audit log has PLAN_END" in result.stdout
    assert "RESULT: PASS" in result.stdout


def test_verify_script_without_the_api_key_fails_on_401(core_run: RunnerRun) -> None:
    status, _, body = plan(core_run, "Generate a plan", "e2e-no-key", key="wrong")
    assert status == 401, body
    env = verify_env(core_run)
    del env["PAGI_API_KEY"]
    result = run_verify(core_run.workdir, env, "--bare-metal")
    assert result.returncode == 1
    assert "FAIL POST /plan answered '401'" in result.stdout


def test_verify_script_fails_when_the_notifier_never_saw_the_trace(
    core_run: RunnerRun, tmp_path: Path
) -> None:
    silent = tmp_path / "empty-notifier.log"
    silent.write_text("")
    env = verify_env(
        core_run, NOTIFIER_LOG=str(silent), VERIFY_TIMEOUT_SECONDS="2", E2E_MODE="bare-metal"
    )
    result = run_verify(core_run.workdir, env)
    assert result.returncode == 1, result.stdout
    assert "FAIL trace" in result.stdout and "RESULT: FAIL" in result.stdout


COMPOSE_SHIM = """#!/usr/bin/env bash
# Stands in for `docker compose` over the bare-metal stack; records each call.
echo "$*" >> "$SHIM_CALLS"
case "$1" in
  ps) printf '%s\n' agent-planner notification-service audit-inspector ;;
  exec) shift 4; sqlite3 "$AUDIT_DB" "${@: -1}" ;;
  logs) cat "$NOTIFIER_LOG" ;;
  *) exit 3 ;;
esac
"""


def test_verify_script_compose_mode_reads_the_inspector_and_notifier_containers(
    core_run: RunnerRun, tmp_path: Path
) -> None:
    shim = tmp_path / "compose-shim"
    shim.write_text(COMPOSE_SHIM)
    shim.chmod(0o755)
    calls = tmp_path / "calls.txt"
    env = verify_env(
        core_run,
        COMPOSE=str(shim),
        SHIM_CALLS=str(calls),
        AUDIT_DB=str(core_run.workdir / "pagi_audit.db"),
        NOTIFIER_LOG=str(core_run.workdir / "logs" / "notifier.log"),
    )
    result = run_verify(tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mode: compose" in result.stdout
    assert "PASS compose stack is running (3 services)" in result.stdout
    recorded = calls.read_text()
    assert "exec -T audit-inspector sqlite3 /data/audit/pagi_audit.db SELECT" in recorded
    assert "logs --no-color notification-service" in recorded


def _descends_from(span: ReceivedSpan, root: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> bool:
    parent = span.parent_span_id
    while parent:
        if parent == root.span_id:
            return True
        parent = by_id[parent].parent_span_id if parent in by_id else ""
    return False


def _loop_tree(spans: list[ReceivedSpan], session: str) -> tuple[ReceivedSpan, set[str]] | None:
    roots = [
        s
        for s in spans
        if s.name == "AgentLoopExecution" and s.attributes.get("session_id") == session
    ]
    if not roots:
        return None
    by_id = {s.span_id: s for s in spans}
    names = {
        s.name
        for s in spans
        if s.trace_id == roots[0].trace_id and _descends_from(s, roots[0], by_id)
    }
    return roots[0], names


def test_the_planner_exports_the_agent_loop_span_tree(
    core_run: RunnerRun, receiver: OtlpReceiver
) -> None:
    status, _, body = plan(core_run, "search the web for the latest PAGI news", "e2e-spans")
    assert status == 200, body
    wanted = {*LOOP_CHILDREN, "ToolCallExecution"}

    def complete(spans: list[ReceivedSpan]) -> bool:
        tree = _loop_tree(spans, "e2e-spans")
        return tree is not None and wanted <= tree[1]

    spans = receiver.wait_for(complete, timeout=20)
    root, names = _loop_tree(spans, "e2e-spans") or pytest.fail("no AgentLoopExecution span")
    assert wanted <= names
    tool_spans = [s for s in spans if s.name == "ToolCallExecution" and s.trace_id == root.trace_id]
    assert tool_spans[0].attributes.get("tool.name") == "web_search"
    assert root.service == "agent-planner"


def test_the_gateway_and_memory_join_the_planners_trace(
    core_run: RunnerRun, receiver: OtlpReceiver
) -> None:
    status, _, body = plan(core_run, "Outline a plan for a picnic", "e2e-propagation")
    assert status == 200, body

    def joined(spans: list[ReceivedSpan]) -> bool:
        tree = _loop_tree(spans, "e2e-propagation")
        if tree is None:
            return False
        services = {s.service for s in spans if s.trace_id == tree[0].trace_id}
        return {"model-gateway", "memory-service"} <= services

    receiver.wait_for(joined, timeout=20)


def test_the_container_health_probe_agrees_with_the_running_services(core_run: RunnerRun) -> None:
    for variable in ("AGENT_PLANNER_PORT", "MEMORY_PORT", "RUST_SANDBOX_PORT"):
        assert container_healthcheck("http", core_run.port(variable)) == 0, variable
    assert container_healthcheck("grpc", core_run.port("MODEL_GATEWAY_GRPC_PORT")) == 0
    assert container_healthcheck("grpc", core_run.port("MEMORY_GRPC_PORT")) == 0
    assert container_healthcheck("http", free_port()) == 1
    assert container_healthcheck("grpc", free_port()) == 1


def test_a_second_run_is_refused_while_this_one_is_active(core_run: RunnerRun) -> None:
    result = run_runner_once(core_run.workdir, core_run.env, "--profile", "core")
    assert result.returncode == 1
    assert "still active" in result.stdout
    assert "--stop" in result.stdout
    assert all(process_alive(pid) for pid in core_run.pids_record()["pids"].values())


def test_ctrl_c_stops_everything_and_frees_every_port(core_run: RunnerRun) -> None:
    pids = core_run.pids_record()["pids"]
    core_run.signal(signal.SIGINT)
    assert core_run.wait_exit(60) == 0, core_run.output()[-3000:]
    assert_all_gone(pids, core_run.all_ports())
    assert not (core_run.workdir / ".pids.json").exists()
    assert "all services stopped" in core_run.output()
