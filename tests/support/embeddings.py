"""Embedding configurations for in-process tests, sharing the services' ONNX export cache."""

from __future__ import annotations

from typing import Any

from services.memory.embedding_engines import EmbeddingConfig
from tests.support.processes import EMBEDDING_CACHE


def embedding_config(**overrides: Any) -> EmbeddingConfig:
    """The default configuration, with the export cached where the test services keep it."""
    return EmbeddingConfig(**({"cache_dir": EMBEDDING_CACHE} | overrides))
