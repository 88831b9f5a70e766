"""Memory service figures, each compared with a floor measured in the same run:

1. CPU of one query embedding with each engine vs torch's; target <= 0.5 for the default.
   With it, each engine's parity with torch (cosine, same top 3 per KB).
2. GetRAGContext over 4 KBs vs over 1 KB, through the running service (gRPC); target <= 1.3.
3. Ingestion throughput (chunk, embed, upsert into Chroma) vs raw batched encoding of the
   same chunks with the default engine; target >= 0.8.

Prints absolute figures and ratios; asserts nothing.

    python -m bench.memory_bench [--samples 60] [--documents 120] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

import grpc
import httpx

from services.contracts import modelgateway_pb2 as pb
from services.contracts import modelgateway_pb2_grpc as pb_grpc
from services.kit.logs import configure_logging
from services.memory.chunking import chunk_text
from services.memory.embeddings import Embedder
from services.memory.ingestion import Ingestor
from services.memory.knowledge import KnowledgeStore
from services.memory.settings import MemorySettings
from tests.support.embedding_parity import compare
from tests.support.embeddings import embedding_config
from tests.support.memory import memory_process

ROOT = Path(__file__).resolve().parents[1]

ALL_KBS = ["Mind-KB", "Domain-KB", "Body-KB", "Soul-KB"]
QUERIES = [
    "which tool finds current prices on the web",
    "how long may sandboxed code run",
    "what does the agent refuse to do",
    "how does the planning loop end",
]


ENGINES = {
    "onnx fp32 (default)": {"backend": "onnx"},
    "onnx int8": {"backend": "onnx", "precision": "int8"},
    "openvino fp32": {"backend": "openvino"},
}


def query_cpu_ms(embedder: Embedder, repetitions: int) -> float:
    """CPU milliseconds of one query embedding (this process, every thread)."""
    for n in range(10):
        embedder.encode_now([QUERIES[n % len(QUERIES)]])
    started = time.process_time()
    for n in range(repetitions):
        embedder.encode_now([QUERIES[n % len(QUERIES)]])
    return (time.process_time() - started) / repetitions * 1000


def bench_engines(repetitions: int) -> None:
    """Each engine's query CPU against torch's, taken in turn so load hits all alike."""
    # torch on one thread: its cheapest CPU per query (more threads spin in OpenMP).
    torch_engine = Embedder.load(embedding_config(backend="torch", threads=1))
    engines = {name: Embedder.load(embedding_config(**kw)) for name, kw in ENGINES.items()}
    engines = {n: e for n, e in engines.items() if e.engine.backend != "torch"}  # installed
    cpu: dict[str, list[float]] = {name: [] for name in ["torch", *engines]}
    for _ in range(5):
        cpu["torch"].append(query_cpu_ms(torch_engine, repetitions // 5))
        for name, embedder in engines.items():
            cpu[name].append(query_cpu_ms(embedder, repetitions // 5))
    floor = statistics.median(cpu["torch"])
    print(f"one query embedding, torch 1 thread: {floor:8.2f} ms CPU (floor)")
    for name, embedder in engines.items():
        value = statistics.median(cpu[name])
        target = "  (target <= 0.5)" if "default" in name else ""
        print(
            f"one query embedding, {name:<14}: {value:8.2f} ms CPU, "
            f"ratio to torch {value / floor:.2f}{target}"
        )
        print(f"  {compare(torch_engine, embedder, name).line()}")
        embedder.close()
    torch_engine.close()


def rag_latencies(address: str, kbs: list[str], samples: int) -> list[float]:
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.ModelGatewayStub(channel)
        timings = []
        for n in range(samples):
            request = pb.RAGContextRequest(
                query=QUERIES[n % len(QUERIES)], top_k=3, knowledge_bases=kbs
            )
            started = time.perf_counter()
            stub.GetRAGContext(request, timeout=30)
            timings.append(time.perf_counter() - started)
        return timings


def seed_playbooks(url: str) -> None:
    for prompt in QUERIES:
        steps = [{"role": "user", "content": prompt}, {"role": "assistant", "content": "ok"}]
        body = {"session_id": "bench", "prompt": prompt, "history_sequence": steps}
        httpx.post(f"{url}/memory/playbook", json=body, timeout=60).raise_for_status()


def bench_rag(samples: int) -> None:
    with tempfile.TemporaryDirectory(prefix="memory-bench-") as tmp:
        proc = memory_process(
            Path(tmp),
            KNOWLEDGE_BASES_DIR=str(ROOT / "knowledge_bases"),
            LOG_LEVEL="WARNING",
            EMBEDDING_QUERY_CACHE_SIZE="0",  # the bench's few queries would all be cached
        )
        proc.start(timeout=300)
        try:
            proc.wait_for_ingestion(timeout=300)
            seed_playbooks(proc.url)
            rag_latencies(proc.address, ALL_KBS, 10)  # warm-up
            one, four = [], []
            for _ in range(samples // 10):  # interleaved so load changes hit both alike
                one += rag_latencies(proc.address, ["Body-KB"], 10)
                four += rag_latencies(proc.address, ALL_KBS, 10)
        finally:
            proc.stop()
    m1, m4 = statistics.median(one) * 1000, statistics.median(four) * 1000
    print(f"GetRAGContext median over 1 KB : {m1:8.2f} ms  ({len(one)} calls)")
    print(f"GetRAGContext median over 4 KBs: {m4:8.2f} ms  ({len(four)} calls)")
    print(f"ratio 4 KBs / 1 KB             : {m4 / m1:8.2f}   (target <= 1.3)")


def write_corpus(root: Path, documents: int) -> list[str]:
    """Distinct text files under root/Domain-KB; returns their chunks as ingestion cuts them."""
    rng = random.Random(7)
    words = (ROOT / "knowledge_bases/Domain-KB/agent_loop.md").read_text().split()
    chunks: list[str] = []
    for n in range(documents):
        paragraphs = [" ".join(rng.choices(words, k=rng.randint(40, 90))) for _ in range(5)]
        text = f"Document {n}\n\n" + "\n\n".join(paragraphs)
        path = root / "Domain-KB" / f"doc{n:04d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        chunks += chunk_text(text)
    return chunks


def bench_ingestion(documents: int, rounds: int) -> None:
    """Raw encode and full ingestion of the same corpus, taken in turn `rounds` times (each
    ingestion into a fresh Chroma directory); the best of each side is reported."""
    embedder = Embedder.load(embedding_config())
    raw_rates, ingest_rates = [], []
    with tempfile.TemporaryDirectory(prefix="memory-bench-") as tmp:
        library = Path(tmp) / "kb"
        chunks = write_corpus(library, documents)
        embedder.encode_now(chunks[:8], bulk=True)  # warm-up, opening the ingestion session
        for round_number in range(rounds):
            started = time.perf_counter()
            embedder.engine.embed(chunks, embedder.batch_size, bulk=True)
            raw_rates.append(len(chunks) / (time.perf_counter() - started))
            chroma_dir = Path(tmp) / f"chroma-{round_number}"
            store = KnowledgeStore.from_settings(MemorySettings(CHROMA_PERSIST_DIR=str(chroma_dir)))
            started = time.perf_counter()
            report = asyncio.run(Ingestor(embedder, store).ingest_library(library))
            ingest_rates.append(report.chunks_embedded / (time.perf_counter() - started))
    embedder.close()
    raw, ours = max(raw_rates), max(ingest_rates)
    engine = f"{embedder.engine.backend} {embedder.engine.precision}"
    print(f"raw encode, {engine} (best of {rounds}): {raw:8.1f} chunks/s ({len(chunks)} chunks)")
    print(f"ingestion, chunk+embed+upsert  : {ours:8.1f} chunks/s (best of {rounds})")
    print(f"ratio ingestion / raw encode   : {ours / raw:8.2f}   (target >= 0.8)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--samples", type=int, default=60, help="RAG calls per variant")
    parser.add_argument("--documents", type=int, default=120, help="documents to ingest")
    parser.add_argument("--rounds", type=int, default=2, help="ingestion rounds (best kept)")
    parser.add_argument("--embeddings", type=int, default=500, help="query embeddings per engine")
    args = parser.parse_args()
    configure_logging("memory-bench", "WARNING")
    bench_engines(max(args.embeddings, 5))
    bench_rag(max(args.samples, 10))
    bench_ingestion(max(args.documents, 1), max(args.rounds, 1))


if __name__ == "__main__":
    main()
