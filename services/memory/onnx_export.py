"""An ONNX export of a local sentence-transformers model, made once and cached.

The whole model (transformer, pooling and normalisation) becomes one graph, so the runtime
only tokenises and runs it. The export is made from the model files on disk (nothing is
downloaded), written to a temporary directory and renamed into place, so processes that
start together never see half an export. The int8 variant stores the MatMul weights as 8-bit
integers in blocks of 16, each with its own scale (ONNX Runtime's MatMulNBits), and runs
them with int8 arithmetic: a quarter of the weight bytes, and vectors within cosine 0.99 of
torch's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Precision = Literal["fp32", "int8"]
# Part of every cache key: a change to how exports are made invalidates the old ones.
FORMAT_VERSION = 1
OPSET = 17
FINGERPRINT_HEAD_BYTES = 1 << 20
MANIFEST = "export.json"
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# The int8 file's name changes with how it is made, so an older variant is not reused.
MODEL_FILES: dict[Precision, str] = {"fp32": "model.onnx", "int8": "model.int8-b16.onnx"}
INT8_BLOCK = 16  # weights per scale: smaller blocks follow the weights more closely


class ExportUnavailable(Exception):
    """The model cannot be exported here (not a local directory, or a package is missing)."""


@dataclass(frozen=True)
class ExportedModel:
    """A finished export: graph files, the tokenizer and what the runtime needs to feed it."""

    directory: Path
    input_names: tuple[str, ...]
    max_seq_length: int
    pad_token: str
    pad_id: int

    def model_path(self, precision: Precision) -> Path:
        return self.directory / MODEL_FILES[precision]

    @property
    def tokenizer_path(self) -> Path:
        return self.directory / "tokenizer.json"

    @classmethod
    def read(cls, directory: Path) -> ExportedModel:
        manifest = json.loads((directory / MANIFEST).read_text())
        return cls(
            directory=directory,
            input_names=tuple(manifest["input_names"]),
            max_seq_length=int(manifest["max_seq_length"]),
            pad_token=str(manifest["pad_token"]),
            pad_id=int(manifest["pad_id"]),
        )


def fingerprint(model_dir: Path) -> str:
    """A cheap content key of the model directory: names, sizes and each file's head."""
    digest = hashlib.sha256(f"format {FORMAT_VERSION}".encode())
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(model_dir)}:{path.stat().st_size}".encode())
        with path.open("rb") as handle:
            digest.update(handle.read(FINGERPRINT_HEAD_BYTES))
    return digest.hexdigest()[:16]


def ensure_export(location: str, cache_dir: Path, precision: Precision) -> ExportedModel:
    """The cached export of the model at location (made now if missing), with the file
    for precision present."""
    model_dir = Path(location)
    if not model_dir.is_dir():
        raise ExportUnavailable(f"{location!r} is not a local model directory")
    target = cache_dir / f"{model_dir.name}-{fingerprint(model_dir)}"
    try:
        if not (target / MANIFEST).is_file():
            _publish(cache_dir, target, lambda work: _export(model_dir, work))
        exported = ExportedModel.read(target)
        if precision == "int8" and not exported.model_path("int8").is_file():
            _quantize(exported)
    except OSError as exc:
        raise ExportUnavailable(
            f"EMBEDDING_CACHE_DIR: cannot keep the export in {cache_dir}: {exc}"
        ) from exc
    return exported


def _publish(cache_dir: Path, target: Path, build: Any) -> None:
    """Build into a temporary sibling, then rename it into place; a concurrent process that
    won the race leaves its (identical) export, and ours is dropped."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache_dir))
    try:
        build(work)
        try:
            os.rename(work, target)
        except OSError:
            if not (target / MANIFEST).is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _export(model_dir: Path, work: Path) -> None:
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ExportUnavailable(f"exporting needs torch and sentence-transformers: {exc}") from exc
    model = SentenceTransformer(str(model_dir), device="cpu").eval()
    sample = model.tokenize(["an example sentence", "another one, a little longer"])
    input_names = tuple(name for name in MODEL_INPUTS if name in sample)
    graph = _sentence_graph(model, input_names)
    axes = {name: {0: "batch", 1: "tokens"} for name in input_names}
    with torch.no_grad():
        torch.onnx.export(
            graph,
            tuple(sample[name] for name in input_names),
            str(work / MODEL_FILES["fp32"]),
            input_names=list(input_names),
            output_names=["sentence_embedding"],
            dynamic_axes=axes | {"sentence_embedding": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    tokenizer = model.tokenizer
    tokenizer.backend_tokenizer.save(str(work / "tokenizer.json"))
    manifest = {
        "input_names": list(input_names),
        "max_seq_length": int(model.max_seq_length or tokenizer.model_max_length),
        "pad_token": str(tokenizer.pad_token),
        "pad_id": int(tokenizer.pad_token_id or 0),
        "format_version": FORMAT_VERSION,
    }
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2))


def _quantize(exported: ExportedModel) -> None:
    try:
        import onnx
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    except ImportError as exc:
        raise ExportUnavailable(f"int8 quantisation needs onnxruntime and onnx: {exc}") from exc
    # It reports every node it leaves as it is at INFO: a hundred lines of no interest.
    logging.getLogger(MatMulNBitsQuantizer.__module__).setLevel(logging.WARNING)
    final = exported.model_path("int8")
    partial = final.with_name(f".{final.name}.{os.getpid()}")
    quantizer = MatMulNBitsQuantizer(
        onnx.load(str(exported.model_path("fp32"))),
        bits=8,
        block_size=INT8_BLOCK,
        is_symmetric=True,
        accuracy_level=4,  # int8 arithmetic: the weights' bytes are what a query waits for
    )
    quantizer.process()
    try:
        quantizer.model.save_model_to_file(str(partial), use_external_data_format=False)
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)  # a save cut short (disk full) leaves nothing behind


def _sentence_graph(model: Any, input_names: tuple[str, ...]) -> Any:
    """The sentence-transformers pipeline with positional tensor inputs, as ONNX wants."""
    import torch

    class SentenceGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            features = dict(zip(input_names, tensors, strict=True))
            return self.model(features)["sentence_embedding"]

    return SentenceGraph().eval()
