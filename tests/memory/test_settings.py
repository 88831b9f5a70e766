"""Unusable settings stop the service at start-up with a message naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.memory.settings import MemorySettings
from tests.support.memory import memory_env
from tests.support.processes import assert_refused_at_start_up, python_service


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MEMORY_PORT", "not-a-port"),
        ("MEMORY_INGEST_ON_START", "perhaps"),
        ("MEMORY_MAX_BODY_BYTES", "10"),
        ("EMBEDDING_MODEL_NAME", "no-such-model-anywhere"),
    ],
)
def test_bad_setting_exits_2_naming_it(tmp_path: Path, variable: str, value: str) -> None:
    env = memory_env(tmp_path, **{variable: value})
    assert_refused_at_start_up(python_service("memory", env, tmp_path, ready=[]), variable)


def test_defaults_follow_the_spec() -> None:
    settings = MemorySettings()
    assert (settings.MEMORY_PORT, settings.MEMORY_GRPC_PORT) == (8003, 50052)
    assert settings.CHROMA_PERSIST_DIR == "./data/chroma"
    assert (settings.CHROMA_HOST, settings.CHROMA_PORT) == ("", 8000)
    assert settings.EMBEDDING_MODEL_NAME == "all-MiniLM-L6-v2"
    assert settings.SESSION_DB_PATH == "./data/session_history.db"
    assert settings.MEMORY_MAX_BODY_BYTES == 1024 * 1024
