"""The knowledge-base library on disk: `<root>/<KB>/...` fills the plain collections and
`<root>/<namespace>/<KB>/...` the namespace's; a KB directory's name ends in `-KB`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.kit.knowledge_bases import valid_name
from services.kit.logs import get_logger
from services.memory.knowledge import collection_name

MAX_FILE_BYTES = 10 * 1024 * 1024
log = get_logger("memory.sources")


@dataclass(frozen=True)
class SourceDocument:
    key: str  # file path for files, caller's id for documents sent over HTTP
    text: str
    source: str
    kind: str  # "file" or "api"


def discover_library(root: Path) -> dict[str, list[SourceDocument]]:
    """Collection name -> the text documents found for it under root."""
    if not root.is_dir():
        log.warning("knowledge_bases_dir_missing", path=str(root))
        return {}
    label = root.resolve().name
    library: dict[str, list[SourceDocument]] = {}
    for namespace, kb_dir in _kb_directories(root):
        documents = [
            document
            for path in sorted(kb_dir.rglob("*"))
            if path.is_file() and not _hidden(path.relative_to(kb_dir))
            for document in _read_document(path, f"{label}/{path.relative_to(root).as_posix()}")
        ]
        library[collection_name(namespace, kb_dir.name)] = documents
    return library


def _kb_directories(root: Path) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if _is_kb_dir(child):
            found.append(("", child))
        elif valid_name(child.name):
            found.extend((child.name, kb) for kb in sorted(child.iterdir()) if _is_kb_dir(kb))
        else:
            log.warning("knowledge_base_dir_skipped", path=str(child), reason="invalid name")
    return found


def _is_kb_dir(path: Path) -> bool:
    return path.is_dir() and path.name.endswith("-KB") and valid_name(path.name)


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _read_document(path: Path, key: str) -> list[SourceDocument]:
    """The file as one document, or nothing (logged) when it is too big or not text."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            log.warning("document_skipped", path=key, reason=f"larger than {MAX_FILE_BYTES} bytes")
            return []
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("document_skipped", path=key, reason=str(exc))
        return []
    if not text.strip():
        return []
    return [SourceDocument(key=key, text=text, source=key, kind="file")]
