"""Mind-KB playbooks: the exact text, its sha256 id, dedupe, and retrieval by a similar prompt."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx

from services.memory.playbook import PlaybookStep, render_playbook
from tests.support.grpcurl import grpcurl_json
from tests.support.memory import MemoryProcess

SEQUENCE = [
    {"role": "user", "content": "What is the latest price of a dog bed?"},
    {"role": "assistant", "content": '{"tool":{"name":"web_search","args":{"query":"dog bed"}}}'},
    {"role": "tool", "content": '{"status":"ok","stdout":"$49"}'},
    {"role": "assistant", "content": ""},
    {"role": "critic", "content": "looks fine"},
    {"role": "tool_result", "content": "second result"},
    {"role": "assistant", "content": '{"steps":["The dog bed costs $49."]}'},
]
EXPECTED_TEXT = (
    "Playbook for: What is the latest price of a dog bed?\n"
    "---\n"
    "Steps:\n"
    "1) User prompt: What is the latest price of a dog bed?\n"
    '2) Planner/Assistant: {"tool":{"name":"web_search","args":{"query":"dog bed"}}}\n'
    '3) Tool returned: {"status":"ok","stdout":"$49"}\n'
    "4) critic: looks fine\n"
    "5) Tool returned: second result\n"
    '6) Planner/Assistant: {"steps":["The dog bed costs $49."]}'
)


def post_playbook(memory: MemoryProcess, **body: Any) -> httpx.Response:
    return httpx.post(f"{memory.url}/memory/playbook", json=body, timeout=30)


def test_rendering_follows_the_text_format() -> None:
    steps = [PlaybookStep(s["role"], s["content"]) for s in SEQUENCE]
    assert render_playbook(SEQUENCE[0]["content"], steps) == EXPECTED_TEXT


def test_playbook_id_is_the_sha256_of_the_exact_text(memory: MemoryProcess) -> None:
    body = {"session_id": "pb-1", "prompt": SEQUENCE[0]["content"], "history_sequence": SEQUENCE}
    reply = post_playbook(memory, **body)
    assert reply.status_code == 200, reply.text
    expected_id = hashlib.sha256(EXPECTED_TEXT.encode("utf-8")).hexdigest()
    assert reply.json() == {"status": "ok", "playbook_id": expected_id}
    again = post_playbook(memory, **{**body, "session_id": "pb-2"})
    assert again.json()["playbook_id"] == expected_id


def embeddings_done(memory: MemoryProcess) -> float:
    metrics = httpx.get(f"{memory.url}/metrics", timeout=10).text
    [count] = [
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("memory_embedding_duration_seconds_count")
    ]
    return count


def test_a_playbook_already_stored_is_not_embedded_or_written_again(
    memory: MemoryProcess,
) -> None:
    prompt = f"water the ferns {uuid.uuid4()}"
    sequence = [{"role": "user", "content": prompt}, {"role": "assistant", "content": "done"}]
    body = {"session_id": "pb-once", "prompt": prompt, "history_sequence": sequence}
    before = embeddings_done(memory)
    first = post_playbook(memory, **body).json()["playbook_id"]
    assert embeddings_done(memory) == before + 1
    again = post_playbook(memory, **{**body, "session_id": "pb-twice"}).json()["playbook_id"]
    assert again == first
    assert embeddings_done(memory) == before + 1
    other = post_playbook(memory, **{**body, "prompt": f"{prompt}!"}).json()["playbook_id"]
    assert other != first
    assert embeddings_done(memory) == before + 2


def test_a_similar_prompt_retrieves_the_playbook_from_mind_kb(memory: MemoryProcess) -> None:
    body = {"session_id": "pb-3", "prompt": SEQUENCE[0]["content"], "history_sequence": SEQUENCE}
    playbook_id = post_playbook(memory, **body).json()["playbook_id"]
    query = {
        "query": "how much does a dog bed cost now?",
        "top_k": 5,
        "knowledge_bases": ["Mind-KB"],
    }
    reply = grpcurl_json(memory.address, "modelgateway.ModelGateway/GetRAGContext", query)
    found = [m for m in reply["matches"] if m["id"] == playbook_id]
    assert found, reply
    assert found[0]["text"] == EXPECTED_TEXT
    assert found[0]["knowledge_base"] == "Mind-KB"
    ids = [m["id"] for m in reply["matches"]]
    assert ids.count(playbook_id) == 1  # upserted, not duplicated


def test_namespaced_playbooks_stay_in_their_namespace(memory: MemoryProcess) -> None:
    prompt = f"unique walk schedule {uuid.uuid4()}"
    sequence = [{"role": "user", "content": prompt}, {"role": "assistant", "content": "done"}]
    body = {"session_id": "pb-ns", "prompt": prompt, "history_sequence": sequence}
    playbook_id = post_playbook(memory, **body, namespace="pet_dog").json()["playbook_id"]
    rpc = "modelgateway.ModelGateway/GetRAGContext"
    query = {"query": prompt, "top_k": 50, "knowledge_bases": ["Mind-KB"]}
    inside = grpcurl_json(memory.address, rpc, {**query, "namespace": "pet_dog"})
    outside = grpcurl_json(memory.address, rpc, query)
    assert playbook_id in [m["id"] for m in inside["matches"]]
    assert playbook_id not in [m["id"] for m in outside.get("matches", [])]
