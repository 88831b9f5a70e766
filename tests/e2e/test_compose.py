"""The container setup: docker-compose accepts both files, every service module the files
name exists, health checks and dependencies are wired, Prometheus scrapes every /metrics."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.devstack.environment import HUGE_PAGES
from services.agent_planner.settings import PlannerSettings
from services.kit.settings import ServiceSettings
from services.memory.settings import MemorySettings
from services.model_gateway.settings import GatewaySettings
from services.notifier.settings import NotifierSettings
from services.sandbox.settings import SandboxSettings
from tests.support.processes import ROOT

COMPOSE = ROOT / "docker-compose.yml"
TLS_OVERRIDE = ROOT / "docker-compose.tls.yml"
DOCKERFILE = ROOT / "Dockerfile"
PROMETHEUS = ROOT / "observability" / "prometheus.yml"
SPEC_SERVICES = {
    "redis",
    "jaeger",
    "prometheus",
    "chroma-db",
    "memory-service",
    "rust-sandbox",
    "model-gateway",
    "agent-planner",
    "notification-service",
    "audit-inspector",
}
METRICS_PORTS = {
    "agent-planner": 8080,
    "model-gateway": 8005,
    "memory-service": 8003,
    "rust-sandbox": 8001,
}


def compose_config(*files: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (Debian package docker-compose)")
    args = [binary]
    for file in files:
        args += ["-f", str(file)]
    return subprocess.run(
        [*args, "config"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


@functools.cache
def resolved(*files: Path) -> dict[str, Any]:
    result = compose_config(*files)
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout))


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Volume source -> target, from either the short or the long syntax."""
    pairs = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume["source"], volume["target"]
        pairs[source] = target
    return pairs


@pytest.mark.parametrize("files", [(COMPOSE,), (COMPOSE, TLS_OVERRIDE)], ids=["base", "tls"])
def test_docker_compose_accepts_the_files(files: tuple[Path, ...]) -> None:
    assert resolved(*files)["services"]  # resolved() fails on any error docker-compose reports


def test_the_stack_has_every_service_of_the_spec() -> None:
    services = resolved(COMPOSE)["services"]
    assert set(services) == SPEC_SERVICES
    assert services["agent-planner"]["ports"][0]["published"] in (8585, "8585")
    assert services["agent-planner"]["ports"][0]["target"] == 8080
    assert services["agent-planner"]["environment"]["AGENT_PLANNER_PORT"] == "8080"
    assert services["memory-service"]["environment"]["CHROMA_HOST"] == "chroma-db"
    assert services["model-gateway"]["environment"]["LLM_PROVIDER"] == "mock"


def test_every_python_command_names_an_existing_service_module() -> None:
    commands = [
        service["command"]
        for service in resolved(COMPOSE)["services"].values()
        if "command" in service and service["command"][:2] == ["python", "-m"]
    ]
    dockerfile_cmd = re.search(r'^CMD \["python", "-m", "([\w.]+)"\]', DOCKERFILE.read_text(), re.M)
    assert dockerfile_cmd is not None
    modules = {command[2] for command in commands} | {dockerfile_cmd.group(1)}
    assert len(modules) == 5
    for module in modules:
        path = ROOT.joinpath(*module.split(".")) / "__main__.py"
        assert path.is_file(), f"{module} has no {path.relative_to(ROOT)}"


def test_health_checks_gate_the_planner_and_use_files_in_the_image() -> None:
    services = resolved(COMPOSE)["services"]
    for name in ("memory-service", "rust-sandbox", "model-gateway", "agent-planner", "redis"):
        assert "healthcheck" in services[name], name
    # Each probes the port the service is configured to serve, with the probe script that
    # test_runner_core runs against live services.
    probes = {
        "memory-service": ("http", "MEMORY_PORT"),
        "rust-sandbox": ("http", "RUST_SANDBOX_PORT"),
        "model-gateway": ("grpc", "MODEL_GATEWAY_GRPC_PORT"),
        "agent-planner": ("http", "AGENT_PLANNER_PORT"),
    }
    for name, (kind, port_variable) in probes.items():
        port = services[name]["environment"][port_variable]
        test = services[name]["healthcheck"]["test"]
        # memory is healthy once start-up ingestion has finished, not merely when it answers
        path = ["/ready"] if name == "memory-service" else []
        assert test == ["CMD", "python", "observability/healthcheck.py", kind, port, *path], name
    assert (ROOT / "observability" / "healthcheck.py").is_file()
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    planner_needs = services["agent-planner"]["depends_on"]
    for dependency in ("redis", "memory-service", "rust-sandbox", "model-gateway"):
        assert planner_needs[dependency]["condition"] == "service_healthy", dependency


def test_audit_db_and_chroma_data_live_on_volumes() -> None:
    config = resolved(COMPOSE)
    services = config["services"]
    audit_path = services["agent-planner"]["environment"]["PAGI_AUDIT_DB_PATH"]
    planner_volumes = mounts(services["agent-planner"])
    inspector_volumes = mounts(services["audit-inspector"])
    assert planner_volumes["audit-data"] == str(Path(audit_path).parent)
    assert inspector_volumes["audit-data"] == planner_volumes["audit-data"]
    assert "chroma-data" in mounts(services["chroma-db"])
    assert {"audit-data", "chroma-data"} <= set(config["volumes"])


def test_the_tls_override_covers_every_grpc_server_and_client() -> None:
    services = resolved(COMPOSE, TLS_OVERRIDE)["services"]
    for server in ("memory-service", "rust-sandbox", "model-gateway"):
        env = services[server]["environment"]
        assert env["TLS_SERVER_CERT_PATH"] == "/app/tls_certs/server.crt", server
    for client in ("agent-planner", "model-gateway"):
        env = services[client]["environment"]
        assert env["TLS_CLIENT_CERT_PATH"] == "/app/tls_certs/client.crt", client
    for name in ("memory-service", "rust-sandbox", "model-gateway", "agent-planner"):
        assert "/app/tls_certs" in mounts(services[name]).values(), name


def test_the_dockerfile_installs_cpu_torch_before_the_project() -> None:
    text = DOCKERFILE.read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    torch = text.index("download.pytorch.org/whl/cpu torch==2.13.0")
    assert torch < text.index("install -r /tmp/requirements.txt")
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


def test_the_image_runs_services_with_the_dev_runners_malloc_settings() -> None:
    assert f"GLIBC_TUNABLES={HUGE_PAGES}" in DOCKERFILE.read_text()


def test_prometheus_scrapes_every_service_metrics_endpoint() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    for service, port in METRICS_PORTS.items():
        assert f"{service}:{port}" in targets, service
    mounted = mounts(resolved(COMPOSE)["services"]["prometheus"])
    assert mounted[str(PROMETHEUS)] == "/etc/prometheus/prometheus.yml"


PAGI_SERVICES = ("memory-service", "rust-sandbox", "model-gateway", "agent-planner")
INTERNAL_SERVICES = ("memory-service", "rust-sandbox", "model-gateway")


def test_services_listen_in_the_container_and_share_the_internal_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INTERNAL_API_KEY", "compose-test-key")
    result = compose_config(COMPOSE)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name in (*PAGI_SERVICES, "notification-service"):
        environment = services[name]["environment"]
        assert environment["BIND_HOST"] == "0.0.0.0", name
        assert environment["INTERNAL_API_KEY"] == "compose-test-key", name


def test_internal_services_are_published_on_the_hosts_loopback_only() -> None:
    services = resolved(COMPOSE)["services"]
    for name in INTERNAL_SERVICES:
        assert {host_ip(port) for port in services[name]["ports"]} == {"127.0.0.1"}, name
    assert host_ip(services["agent-planner"]["ports"][0]) == ""


def host_ip(port: str | dict[str, Any]) -> str:
    """The host address a published port binds ('' = every interface), in either syntax."""
    if isinstance(port, dict):
        return str(port.get("host_ip", ""))
    parts = port.split(":")
    return parts[0] if len(parts) == 3 else ""


def test_the_image_exposes_the_ports_its_services_listen_on_inside() -> None:
    exposed = re.search(r"^EXPOSE (.+)$", DOCKERFILE.read_text(), re.M)
    assert exposed is not None
    listening = {
        container_port(port)
        for service in resolved(COMPOSE)["services"].values()
        if service.get("image") == "pagi-py:dev"
        for port in service.get("ports", [])
    }
    assert set(exposed.group(1).split()) == listening  # the planner: 8080, not 8585


def test_the_image_is_built_in_two_stages_and_keeps_only_the_virtualenv() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?$", text, re.M)
    assert stages == [("python:3.11-slim", "dependencies"), ("python:3.11-slim", "")]
    final = text.split("\nFROM ")[-1]
    assert "COPY --from=dependencies /opt/venv /opt/venv" in final
    assert "pip" not in final.replace("PIP_", "")  # nothing is installed in the final stage


def container_port(port: str | dict[str, Any]) -> str:
    """The port inside the container of a published port, in either syntax."""
    published = str(port["target"]) if isinstance(port, dict) else port.split(":")[-1]
    return published.removesuffix("/tcp")


SETTINGS: dict[str, type[ServiceSettings]] = {
    "agent-planner": PlannerSettings,
    "model-gateway": GatewaySettings,
    "memory-service": MemorySettings,
    "rust-sandbox": SandboxSettings,
    "notification-service": NotifierSettings,
}
INTERPOLATED = re.compile(r"\$\{(\w+):-(.*)\}")
# Passed to compose services on purpose with another default than bare metal's.
CONTAINER_DEFAULTS = {
    "OLLAMA_BASE_URL",  # the host's Ollama, seen from the container
    "OTEL_EXPORTER_OTLP_ENDPOINT",  # compose's Jaeger
    "SEARXNG_URL",  # none in compose: the container's localhost has no SearXNG
}
# Settings .env may carry to compose (README): each must reach its service's container.
PASSED_THROUGH = {
    "model-gateway": [
        n
        for n in GatewaySettings.model_fields
        if n.startswith(("LLM_", "OPENAI_", "OPENROUTER_", "OLLAMA_"))
    ],
    "agent-planner": [
        "AGENT_MAX_CONCURRENT_RUNS",
        "AGENT_RUN_QUEUE_SIZE",
        "AGENT_RUN_RETENTION_DAYS",
        "AGENT_TOOL_APPROVAL",
        "AGENT_APPROVAL_TIMEOUT_SECONDS",
        "AGENT_RESUME_ON_START",
        "PAGI_NOTIFICATIONS_STREAM",
    ],
    "notification-service": ["NOTIFIER_MODE", "PAGI_NOTIFICATIONS_STREAM"],
    "memory-service": ["EMBEDDING_BACKEND", "EMBEDDING_QUERY_CACHE_SIZE"],
}


def setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value in ({}, None) else str(value)


def test_settings_from_dot_env_reach_their_containers() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for name, settings in PASSED_THROUGH.items():
        missing = [s for s in settings if s not in services[name]["environment"]]
        assert not missing, f"{name} does not pass {missing}"


def test_interpolated_defaults_are_the_services_own() -> None:
    """`NAME: ${NAME:-default}` in compose: unset in .env, the service behaves as on bare
    metal."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    checked = 0
    for name, settings in SETTINGS.items():
        for variable, raw in services[name]["environment"].items():
            found = INTERPOLATED.fullmatch(str(raw))
            if found is None or variable in CONTAINER_DEFAULTS:
                continue  # a fixed value, e.g. the service's port or address in compose
            assert found[1] == variable, f"{name}: {variable} is read from {found[1]}"
            if variable not in settings.model_fields:
                continue
            field = settings.model_fields[variable]
            default = setting_text(field.get_default(call_default_factory=True))
            assert found[2] == default, (
                f"{name}: {variable} defaults to {found[2]!r}, not {default!r}"
            )
            checked += 1
    assert checked >= 30


@pytest.mark.parametrize("files", [(COMPOSE,), (COMPOSE, TLS_OVERRIDE)], ids=["base", "tls"])
def test_each_service_accepts_the_environment_compose_gives_it(
    files: tuple[Path, ...], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Settings load from exactly what compose resolves (blank where .env is silent)."""
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    services = resolved(*files)["services"]
    for name, settings in SETTINGS.items():
        with monkeypatch.context() as env:
            for variable in [v for v in os.environ if v in settings.model_fields]:
                env.delenv(variable)
            for variable, value in services[name]["environment"].items():
                env.setenv(variable, "" if value is None else str(value))
            settings()  # raises naming the setting compose got wrong
