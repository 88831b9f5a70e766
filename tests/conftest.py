"""Shared fixtures: real service processes on free ports, a throwaway redis-server, and a
clean environment for in-process tests."""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from services.kit.database import engine_url
from tests.support.certs import make_certs
from tests.support.postgres import PostgresCluster
from tests.support.processes import LIVE, RedisProcess, redis_process

pytest_plugins = ["tests.support.spawning"]

SERVICE_VARIABLE = re.compile(
    r"^(AGENT_|MODEL_GATEWAY_|MEMORY_|RUST_SANDBOX_|SANDBOX_|TLS_|OTEL_|LLM_|OPENROUTER_|OLLAMA_"
    r"|OPENAI_|REDIS_|PAGI_|CHROMA_|EMBEDDING_|SESSION_|RAG_|GO_BFF_|PY_AGENT_|REQUEST_TIMEOUT"
    r"|WEB_SEARCH_|SEARXNG_|KNOWLEDGE_|LOG_LEVEL)"
)


@pytest.fixture(autouse=True)
def clean_service_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the developer's service variables or a stray .env file."""
    for name in list(os.environ):
        if SERVICE_VARIABLE.match(name):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dev CA with server and client certificates from scripts/gen_certs.sh."""
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """A throwaway redis-server for the session; `.port` holds its port."""
    proc = redis_process(tmp_path_factory.mktemp("redis")).start(timeout=20)
    yield proc
    proc.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, attach the tail of every live service's log to the report."""
    report = yield
    if report.failed:
        for proc in LIVE:
            report.sections.append((f"log of {proc.name} ({proc.log_path.name})", proc.tail(80)))
    return report


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL server for the session; `create_database()` gives a fresh DB."""
    cluster = PostgresCluster.create().start()
    yield cluster
    cluster.remove()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The SQLAlchemy URL of an empty database, once per backend: a SQLite file, then a
    fresh database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return engine_url("", tmp_path / "test.db")
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return engine_url(cluster.create_database(), tmp_path)
