"""The core stack with mTLS on every internal gRPC link, started by the runner with the
TLS_* variables pointing at certificates from scripts/gen_certs.sh."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.e2e.runner_harness import (
    RunnerRun,
    assert_all_gone,
    container_healthcheck,
    post_json,
    run_verify,
    runner_env,
)
from tests.support.certs import client_credentials, tls_env
from tests.support.grpcurl import grpcurl
from tests.support.processes import grpc_ready


def grpc_listening_tls(log: Path) -> bool:
    for line in log.read_text().splitlines():
        if '"grpc_listening"' in line:
            return bool(json.loads(line).get("tls"))
    return False


def test_the_core_stack_runs_with_mtls_on_every_grpc_link(tmp_path: Path, certs: Path) -> None:
    run = RunnerRun(tmp_path, runner_env(tmp_path, **tls_env(certs))).start()
    pids: dict[str, int] = {}
    try:
        run.wait_ready()
        pids = run.pids_record()["pids"]
        logs = tmp_path / "logs"
        for server in ("memory", "sandbox", "gateway"):
            assert grpc_listening_tls(logs / f"{server}.log"), f"{server} serves gRPC without TLS"

        gateway = run.port("MODEL_GATEWAY_GRPC_PORT")
        assert not grpc_ready(gateway)(), "the gateway must refuse plaintext callers"
        assert grpc_ready(gateway, client_credentials(certs))()
        assert container_healthcheck("grpc", gateway) == 1
        assert container_healthcheck("grpc", gateway, tls_env(certs)) == 0
        called = grpcurl(
            "-cacert", str(certs / "ca.crt"), "-cert", str(certs / "client.crt"),
            "-key", str(certs / "client.key"), "-d", '{"prompt": "hi"}',
            f"localhost:{gateway}", "modelgateway.ModelGateway/GetPlan",
        )  # fmt: skip
        assert called.returncode == 0, called.stderr
        assert json.loads(called.stdout)["model_name"] == "mock"

        # A search prompt crosses planner -> memory (RAG), -> gateway and -> sandbox (tool).
        status, _, body = post_json(
            f"{run.url('AGENT_PLANNER_PORT')}/plan",
            {"prompt": "search the web for mTLS basics", "session_id": "tls-run"},
        )
        assert status == 200, body
        broken_links = [
            line
            for line in (logs / "planner.log").read_text().splitlines()
            if '"rag_context_unavailable"' in line or '"tool_call_failed"' in line
        ]
        assert not broken_links, "planner gRPC link failed under mTLS:\n" + "\n".join(
            broken_links[:2]
        )
        assert "Mock result 1" in body["result"]

        verify_env = {"PATH": run.env["PATH"], "AGENT_URL": run.url("AGENT_PLANNER_PORT")}
        verified = run_verify(tmp_path, verify_env, "--bare-metal")
        assert verified.returncode == 0, verified.stdout + verified.stderr

        run.signal(signal.SIGTERM)
        assert run.wait_exit(60) == 0
        assert_all_gone(pids, run.all_ports())
    finally:
        run.force_cleanup(list(pids.values()))
