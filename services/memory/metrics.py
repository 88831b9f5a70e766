"""Memory-specific Prometheus metrics; request counts and latencies come from the kit."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from services.kit.knowledge_bases import STANDARD_KNOWLEDGE_BASES
from services.kit.metrics import LATENCY_BUCKETS

RAG_LATENCY = Histogram(
    "memory_rag_query_duration_seconds",
    "GetRAGContext latency (one embedding plus every KB search)",
    ["kb_count"],
    buckets=LATENCY_BUCKETS,
)
EMBEDDING_LATENCY = Histogram(
    "memory_embedding_duration_seconds",
    "Time spent in one model.encode call",
    buckets=LATENCY_BUCKETS,
)
QUERY_CACHE_LOOKUPS = Counter(
    "memory_query_embedding_cache_lookups_total",
    "Query embedding cache lookups, by result (hit or miss)",
    ["result"],
)
INGESTED_CHUNKS = Counter(
    "memory_ingested_chunks_total",
    "Chunks embedded and upserted by ingestion, by knowledge base and where they came from",
    ["knowledge_base", "kind"],
)


# Collection names are chosen by callers; labels are limited to the standard knowledge bases
# so the metric's series stay a fixed set however many namespaces and KBs exist.
def metric_label(collection: str) -> str:
    knowledge_base = collection.rpartition(".")[2]
    return knowledge_base if knowledge_base in STANDARD_KNOWLEDGE_BASES else "other"
