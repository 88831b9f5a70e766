"""The memory service: durable session history (Heart-KB) in SQLite, knowledge bases in
Chroma with local sentence-transformers embeddings, RAG over gRPC and playbooks (Mind-KB)."""
