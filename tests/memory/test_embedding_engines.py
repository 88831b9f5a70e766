"""Choosing the embedding engine: the ONNX export is made once and reused, a missing
optional package falls back to torch and says so, and threads follow the cores."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import structlog

from services.memory.embedding_engines import EmbeddingConfig, open_engine
from services.memory.onnx_export import ensure_export, fingerprint
from services.memory.settings import MemorySettings


def test_fallback_to_torch_when_openvino_is_not_installed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.support.processes import EMBEDDING_CACHE

    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    with structlog.testing.capture_logs() as logs:
        engine = open_engine(EmbeddingConfig(backend="openvino", cache_dir=EMBEDDING_CACHE))
    assert engine.backend == "torch"
    fallback = [entry for entry in logs if entry["event"] == "embedding_backend_fallback"]
    assert fallback and fallback[0]["requested"] == "openvino", logs
    assert "openvino" in fallback[0]["reason"]


def test_fallback_to_torch_when_the_cache_dir_cannot_be_written(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "a-file"
    not_a_directory.write_text("")
    with structlog.testing.capture_logs() as logs:
        engine = open_engine(EmbeddingConfig(backend="onnx", cache_dir=not_a_directory / "x"))
    assert engine.backend == "torch"
    [fallback] = [entry for entry in logs if entry["event"] == "embedding_backend_fallback"]
    assert "EMBEDDING_CACHE_DIR" in fallback["reason"]


def test_fallback_to_torch_naming_the_setting_when_the_engine_cannot_open_the_export(
    tmp_path: Path,
) -> None:
    from services.memory.embedding_engines import resolve_model_location
    from services.memory.onnx_export import MODEL_FILES
    from services.memory.settings import DEFAULT_EMBEDDING_MODEL
    from tests.support.processes import EMBEDDING_CACHE

    shared = ensure_export(resolve_model_location(DEFAULT_EMBEDDING_MODEL), EMBEDDING_CACHE, "fp32")
    copy = tmp_path / shared.directory.name
    shutil.copytree(shared.directory, copy)
    (copy / MODEL_FILES["int8"]).write_bytes(b"not an ONNX model")  # as a kernel it lacks
    config = EmbeddingConfig(backend="onnx", precision="int8", cache_dir=tmp_path)
    with structlog.testing.capture_logs() as logs:
        engine = open_engine(config)
    assert engine.backend == "torch"
    [fallback] = [entry for entry in logs if entry["event"] == "embedding_backend_fallback"]
    assert "EMBEDDING_PRECISION=int8" in fallback["reason"], fallback
    assert "EMBEDDING_MODEL_NAME" not in fallback["reason"]


def test_an_int8_file_that_cannot_be_put_in_place_leaves_no_partial_file(tmp_path: Path) -> None:
    from services.memory.embedding_engines import resolve_model_location
    from services.memory.onnx_export import MODEL_FILES, ExportUnavailable
    from services.memory.settings import DEFAULT_EMBEDDING_MODEL
    from tests.support.processes import EMBEDDING_CACHE

    location = resolve_model_location(DEFAULT_EMBEDDING_MODEL)
    shared = ensure_export(location, EMBEDDING_CACHE, "fp32")
    copy = tmp_path / shared.directory.name
    shutil.copytree(shared.directory, copy, ignore=shutil.ignore_patterns(MODEL_FILES["int8"]))
    in_the_way = copy / MODEL_FILES["int8"]  # a directory where the int8 file goes
    in_the_way.mkdir()
    (in_the_way / "kept").write_text("")
    with pytest.raises(ExportUnavailable, match="EMBEDDING_CACHE_DIR"):
        ensure_export(location, tmp_path, "int8")
    assert sorted(path.name for path in copy.iterdir() if path.name.startswith(".")) == []
    assert (in_the_way / "kept").is_file()


def test_a_model_that_is_not_a_local_directory_cannot_be_exported(tmp_path: Path) -> None:
    from services.memory.onnx_export import ExportUnavailable

    with pytest.raises(ExportUnavailable, match="not a local model directory"):
        ensure_export("some-hub/model-name", tmp_path, "fp32")


def test_the_fingerprint_follows_the_model_files(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"hidden_size": 384}')
    first = fingerprint(model)
    assert fingerprint(model) == first
    (model / "config.json").write_text('{"hidden_size": 768}')
    assert fingerprint(model) != first


def test_threads_default_to_the_cores_this_process_may_use() -> None:
    assert EmbeddingConfig().thread_count == len(os.sched_getaffinity(0))
    assert EmbeddingConfig(threads=3).thread_count == 3


def test_settings_choose_onnx_and_refuse_int8_without_it() -> None:
    settings = MemorySettings()
    assert (settings.EMBEDDING_BACKEND, settings.EMBEDDING_PRECISION) == ("onnx", "fp32")
    with pytest.raises(ValueError, match="EMBEDDING_PRECISION"):
        MemorySettings(EMBEDDING_BACKEND="torch", EMBEDDING_PRECISION="int8")


def test_the_export_is_made_once_and_reused(tmp_path: Path) -> None:
    from services.memory.embedding_engines import resolve_model_location
    from services.memory.settings import DEFAULT_EMBEDDING_MODEL

    location = resolve_model_location(DEFAULT_EMBEDDING_MODEL)
    first = ensure_export(location, tmp_path, "fp32")
    made = first.model_path("fp32").stat().st_mtime_ns
    assert first.tokenizer_path.is_file()
    assert first.input_names == ("input_ids", "attention_mask", "token_type_ids")
    second = ensure_export(location, tmp_path, "fp32")
    assert second == first
    assert second.model_path("fp32").stat().st_mtime_ns == made
    assert [p.name for p in tmp_path.iterdir()] == [first.directory.name]  # no partial dirs


def _new_threads(before: set[str]) -> set[str]:
    """Threads of this process started since `before` (ids; one that ended meanwhile, such
    as a worker an earlier test left behind, does not count)."""
    return set(os.listdir("/proc/self/task")) - before


def test_queries_run_on_one_thread_and_ingestion_on_the_pool() -> None:
    from tests.support.processes import EMBEDDING_CACHE

    engine = open_engine(EmbeddingConfig(backend="onnx", threads=4, cache_dir=EMBEDDING_CACHE))
    assert engine.backend == "onnx"
    before = set(os.listdir("/proc/self/task"))
    query = engine.embed(["what is the weather in Paris"], 64)
    engine.embed([f"question {i}" for i in range(80)], 64)
    assert not _new_threads(before)  # no pool threads for queries, however many
    texts = ["what is the weather in Paris"] + [f"chunk {i}" for i in range(5)]
    bulk = engine.embed(texts, 64, bulk=True)
    assert len(_new_threads(before)) == 3  # the 4-thread pool: the caller and 3 workers
    assert float(query[0] @ bulk[0]) > 0.9999  # same vector, whichever session ran it
