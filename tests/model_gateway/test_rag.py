"""The gateway with the REAL memory service: RAG preamble in the model prompt, readiness that
follows memory's health, the GetRAGContext proxy (namespaces included), vector-test results,
all over an mTLS link to memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.model_gateway.prompt import RAG_PREAMBLE
from tests.model_gateway.conftest import Gateway, gateway_service
from tests.support.certs import client_credentials, client_tls_env, server_tls_env
from tests.support.fake_openai import FakeOpenAI
from tests.support.grpcurl import grpcurl, grpcurl_json
from tests.support.logs import logged
from tests.support.memory import MemoryProcess, memory_process
from tests.support.processes import grpc_ready, http_ready

LISBON = "Lisbon trams: line 28 climbs through Alfama; buy a Viva Viagem card first."
VALUES = "Be honest about uncertainty and prefer small reversible steps."
PET = "The dog Biscuit eats twice a day and walks at seven in the morning."


def write_library(root: Path) -> Path:
    (root / "Domain-KB").mkdir(parents=True)
    (root / "Soul-KB").mkdir(parents=True)
    (root / "Domain-KB" / "lisbon.txt").write_text(LISBON)
    (root / "Soul-KB" / "values.txt").write_text(VALUES)
    return root


@pytest.fixture(scope="module")
def memory(certs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MemoryProcess]:
    """One memory process (the expensive part) serving gRPC over mTLS only."""
    workdir = tmp_path_factory.mktemp("memory")
    library = write_library(workdir / "knowledge_bases")
    process = memory_process(
        workdir,
        KNOWLEDGE_BASES_DIR=str(library),
        **server_tls_env(certs),
    )
    process.ready = [
        http_ready(process.http_port),
        grpc_ready(process.grpc_port, client_credentials(certs)),
    ]
    process.start(timeout=180)
    process.wait_for_ingestion()
    ingest = httpx.post(
        f"{process.url}/memory/ingest",
        json={
            "knowledge_base": "Domain-KB",
            "namespace": "petdog",
            "documents": [{"id": "biscuit", "text": PET, "source": "owner-notes"}],
        },
        timeout=60,
    )
    assert ingest.status_code == 200, ingest.text
    yield process
    process.stop()


def start_gateway(workdir: Path, fake: FakeOpenAI, memory: MemoryProcess, **env: str) -> Gateway:
    gateway = gateway_service(
        workdir,
        LLM_PROVIDER="openai",
        OPENAI_API_KEY="sk-rag",
        OPENAI_BASE_URL=fake.base_url,
        RAG_GRPC_ADDR=f"127.0.0.1:{memory.grpc_port}",
        REQUEST_TIMEOUT_SECONDS="20",
        RAG_TIMEOUT_SECONDS="15",
        **env,
    )
    gateway.process.start(timeout=60)
    return gateway


@pytest.fixture(scope="module")
def gateway(
    memory: MemoryProcess,
    certs: Path,
    fake_openai: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gateway]:
    """A real-provider gateway whose memory channel uses the client certificate."""
    gateway = start_gateway(
        tmp_path_factory.mktemp("gateway-rag"),
        fake_openai,
        memory,
        **client_tls_env(certs, "memory-service"),
    )
    yield gateway
    gateway.process.stop()


def test_preamble_lists_the_matches_before_the_prompt(
    gateway: Gateway, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reset()
    prompt = "<user_prompt>\nWhich tram goes through Alfama in Lisbon?\n</user_prompt>"
    assert gateway.plan_json(prompt)["model_type"] == "openai"
    user = fake_openai.requests[-1].user_prompt
    assert user.startswith(f"{RAG_PREAMBLE}\n<context>\n**Domain-KB**\nID: ")
    context = user.split("<context>\n")[1].split("</context>")[0]
    assert f"Text: {LISBON}\n---\n" in context
    assert "**Soul-KB**" in context
    assert user.endswith(f"</context>\n\n{prompt}")


def test_health_is_serving_when_memory_is_serving(gateway: Gateway) -> None:
    assert _health(gateway) == "SERVING"
    assert httpx.get(f"{gateway.url}/health").json()["ready"] is True


def test_rag_proxy_passes_the_request_through(gateway: Gateway) -> None:
    body = {"query": "dog feeding", "top_k": 1, "knowledge_bases": ["Domain-KB"]}
    plain = grpcurl_json(gateway.address, "modelgateway.ModelGateway/GetRAGContext", body)
    assert [m["text"] for m in plain["matches"]] == [LISBON]
    scoped = grpcurl_json(
        gateway.address,
        "modelgateway.ModelGateway/GetRAGContext",
        {**body, "namespace": "petdog"},
    )
    [match] = scoped["matches"]
    assert match["id"].startswith("api:biscuit")  # API-ingested ids have their own key space
    assert (match["text"], match["knowledge_base"]) == (PET, "Domain-KB")


def test_vector_test_lists_scored_matches(
    gateway: Gateway, memory: MemoryProcess, certs: Path
) -> None:
    response = httpx.get(
        f"{gateway.url}/api/v1/vector-test", params={"query": "Alfama tram"}, timeout=30
    )
    assert response.status_code == 200, response.text
    results = response.json()
    assert len(results) == 2
    assert set(results[0]) == {"id", "score", "text", "source", "knowledge_base"}
    assert results[0]["text"] == LISBON
    assert results[0]["knowledge_base"] == "Domain-KB"
    assert "lisbon.txt" in results[0]["source"]
    assert results[0]["score"] >= results[1]["score"]
    with grpc.secure_channel(memory.address, client_credentials(certs)) as channel:
        direct = pb_grpc.ModelGatewayStub(channel).GetRAGContext(
            pb.RAGContextRequest(query="Alfama tram", top_k=1, knowledge_bases=["Domain-KB"]),
            timeout=30,
        )
    assert results[0]["score"] == pytest.approx(1 / (1 + direct.matches[0].distance))
    one = httpx.get(
        f"{gateway.url}/api/v1/vector-test", params={"query": "values", "k": "1"}, timeout=30
    )
    assert len(one.json()) == 1


def test_memory_link_needs_the_client_certificate(
    gateway: Gateway, memory: MemoryProcess, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    """Health follows memory's: SERVING over mTLS, NOT_SERVING when the handshake fails;
    and the failed RAG lookup still lets the model answer, without a preamble."""
    assert _health(gateway) == "SERVING"
    without_cert = start_gateway(tmp_path, fake_openai, memory)
    try:
        assert _health(without_cert) == "NOT_SERVING"
        fake_openai.reset()
        plan = without_cert.plan_json("<user_prompt>Lisbon trams?</user_prompt>")
        assert plan["steps"]
        assert RAG_PREAMBLE not in fake_openai.requests[-1].user_prompt
        assert logged(without_cert.process, "rag_context_unavailable")
    finally:
        without_cert.process.stop()


def _health(gateway: Gateway) -> str:
    result = grpcurl("-plaintext", gateway.address, "grpc.health.v1.Health/Check")
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["status"])
