"""Settings of the memory service; field names are the environment variable names."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from services.kit.settings import DatabaseSettings
from services.memory.schemas import MAX_DOCUMENTS

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


class MemorySettings(DatabaseSettings):
    MEMORY_PORT: int = Field(default=8003, ge=0, le=65535)
    MEMORY_GRPC_PORT: int = Field(default=50052, ge=0, le=65535)
    CHROMA_PERSIST_DIR: str = "./data/chroma"
    CHROMA_HOST: str = ""
    CHROMA_PORT: int = Field(default=8000, ge=1, le=65535)
    EMBEDDING_MODEL_NAME: str = DEFAULT_EMBEDDING_MODEL
    SESSION_DB_PATH: str = "./data/session_history.db"
    KNOWLEDGE_BASES_DIR: str = "./knowledge_bases"
    MEMORY_INGEST_ON_START: bool = True
    # Report ready (/ready, gRPC health) while start-up ingestion is still running.
    MEMORY_SERVE_DURING_INGESTION: bool = False
    MEMORY_MAX_BODY_BYTES: int = Field(default=1024 * 1024, ge=1024)
    MEMORY_EMBED_BATCH_SIZE: int = Field(default=64, ge=1, le=1024)
    # onnx (the default) passed the parity check against torch and costs a third of its CPU.
    EMBEDDING_BACKEND: Literal["torch", "onnx", "openvino"] = "onnx"
    EMBEDDING_PRECISION: Literal["fp32", "int8"] = "fp32"
    EMBEDDING_THREADS: int = Field(default=0, ge=0, le=256)
    EMBEDDING_CACHE_DIR: str = "./data/embeddings"
    EMBEDDING_QUERY_CACHE_SIZE: int = Field(default=1024, ge=0, le=1_000_000)
    MEMORY_INGEST_MAX_DOCUMENTS: int = Field(default=MAX_DOCUMENTS, ge=1, le=MAX_DOCUMENTS)
    MEMORY_INGEST_MAX_BYTES: int = Field(default=512 * 1024, ge=1024)
    MEMORY_MAX_COLLECTIONS_PER_NAMESPACE: int = Field(default=16, ge=4)
    MEMORY_MAX_NAMESPACES: int = Field(default=256, ge=1)

    @model_validator(mode="after")
    def int8_needs_onnx(self) -> MemorySettings:
        if self.EMBEDDING_PRECISION == "int8" and self.EMBEDDING_BACKEND != "onnx":
            raise ValueError("EMBEDDING_PRECISION: int8 is available with EMBEDDING_BACKEND=onnx")
        return self

    @property
    def chroma_server_mode(self) -> bool:
        return bool(self.CHROMA_HOST.strip())
