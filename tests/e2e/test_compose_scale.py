"""docker-compose.scale.yml over the main file: docker-compose accepts it, and the replicas,
nginx and PostgreSQL are wired to each other by the names nginx and the services use."""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.test_compose import COMPOSE, mounts, resolved
from tests.support.processes import ROOT

SCALE = ROOT / "docker-compose.scale.yml"
NGINX_CONF = ROOT / "deploy" / "nginx" / "scale.conf"
PLANNERS = ("agent-planner", "agent-planner-2", "agent-planner-3")
MEMORIES = ("memory-service", "memory-service-2")


def services() -> dict[str, Any]:
    return dict(resolved(COMPOSE, SCALE)["services"])


def upstream_members(name: str) -> list[str]:
    block = re.search(rf"upstream {name} \{{(.*?)\}}", NGINX_CONF.read_text(), re.S)
    assert block is not None, name
    return re.findall(r"server ([\w-]+):\d+;", block.group(1))


def test_replicas_share_postgres_and_reach_memory_through_nginx() -> None:
    stack = services()
    for name in (*PLANNERS, *MEMORIES):
        env = stack[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://pagi:"), name
        assert env["DATABASE_URL"].endswith("@postgres:5432/pagi"), name
        assert env["BIND_HOST"] == "0.0.0.0"
        assert stack[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "healthcheck" in stack[name]
    for name in PLANNERS:
        env = stack[name]["environment"]
        assert (env["MEMORY_URL"], env["MEMORY_GRPC_ADDR"]) == ("http://nginx:8003", "nginx:50052")
    assert stack["model-gateway"]["environment"]["RAG_GRPC_ADDR"] == "nginx:50052"
    quiet = [m for m in MEMORIES if stack[m]["environment"]["MEMORY_INGEST_ON_START"] == "false"]
    assert quiet == ["memory-service-2"]  # only the first replica ingests


def test_nginx_fronts_every_replica_by_its_compose_name() -> None:
    stack = services()
    assert sorted(upstream_members("planners")) == sorted(PLANNERS)
    assert sorted(upstream_members("memory_http")) == sorted(MEMORIES)
    assert sorted(upstream_members("memory_grpc")) == sorted(MEMORIES)
    nginx = stack["nginx"]
    assert mounts(nginx) == {str(NGINX_CONF): "/etc/nginx/nginx.conf"}
    published = {
        str(p["published"]) if isinstance(p, dict) else p.split(":")[0] for p in nginx["ports"]
    }
    assert published == {"8580"}


def test_nginx_starts_after_every_replica_it_fronts_and_nothing_waits_for_it() -> None:
    # nginx refuses to start while an upstream name does not resolve, and Docker's DNS only
    # knows running containers: a replica that waited for nginx would keep it down for good.
    stack = services()
    waits_for = stack["nginx"]["depends_on"]
    for name in (*PLANNERS, *MEMORIES):
        assert waits_for[name]["condition"] == "service_healthy", name
    waiting_on_nginx = [n for n, s in stack.items() if "nginx" in s.get("depends_on", {})]
    assert waiting_on_nginx == []


def test_postgres_is_the_upstream_image_with_a_volume_and_a_health_check() -> None:
    postgres = services()["postgres"]
    assert postgres["image"] == "postgres:16"
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert mounts(postgres) == {"postgres-data": "/var/lib/postgresql/data"}
