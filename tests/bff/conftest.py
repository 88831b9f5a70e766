"""BFF fixtures: three recording fakes in the BFF's downstream roles with one BFF pointed
at them (each test starts from clean fakes), and the whole real legacy stack."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.legacy_services import HttpService, bff_process, legacy_stack
from tests.support.processes import free_port
from tests.support.recording_http import CannedAnswer, RecordingHttpServer

BFF_TIMEOUT_SECONDS = 1.5
AGENT_PAYLOAD = {"service": "fake-agent", "plan": {"steps": ["a", "b", "c"]}}
SANDBOX_PAYLOAD = {"status": "ok", "tool_name": "demo", "result": {"stdout": {}, "stderr": ""}}
MEMORY_PAYLOAD = {"session_id": "s1", "messages": [{"role": "user", "content": "hi"}]}


@dataclass
class Downstreams:
    agent: RecordingHttpServer
    sandbox: RecordingHttpServer
    memory: RecordingHttpServer

    def all(self) -> tuple[RecordingHttpServer, RecordingHttpServer, RecordingHttpServer]:
        return self.agent, self.sandbox, self.memory

    def reset(self) -> None:
        self.agent.answers = {("POST", "/api/v1/plan"): CannedAnswer(body=AGENT_PAYLOAD)}
        self.sandbox.answers = {
            ("POST", "/api/v1/execute_tool"): CannedAnswer(body=SANDBOX_PAYLOAD)
        }
        self.memory.answers = {("GET", "/memory/latest"): CannedAnswer(body=MEMORY_PAYLOAD)}
        for fake in self.all():
            fake.requests.clear()


@pytest.fixture(scope="session")
def downstreams() -> Iterator[Downstreams]:
    fakes = Downstreams(RecordingHttpServer(), RecordingHttpServer(), RecordingHttpServer())
    for fake in fakes.all():
        fake.start()
    yield fakes
    for fake in fakes.all():
        fake.stop()


@pytest.fixture
def fakes(downstreams: Downstreams) -> Downstreams:
    downstreams.reset()
    return downstreams


@pytest.fixture(scope="session")
def bff(
    downstreams: Downstreams, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HttpService]:
    """A BFF whose three downstreams are the recording fakes."""
    service = bff_process(
        tmp_path_factory.mktemp("bff"),
        free_port(),
        PY_AGENT_URL=downstreams.agent.url,
        RUST_SANDBOX_URL=downstreams.sandbox.url,
        MEMORY_URL=downstreams.memory.url,
        REQUEST_TIMEOUT_SECONDS=str(BFF_TIMEOUT_SECONDS),
    )
    service.process.start(timeout=30)
    yield service
    service.process.stop()


__all__ = ["legacy_stack"]
