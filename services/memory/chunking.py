"""Split documents into overlapping chunks that follow paragraph boundaries."""

from __future__ import annotations

import re

CHUNK_CHARS = 800
OVERLAP_CHARS = 120
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def chunk_text(text: str, max_chars: int = CHUNK_CHARS, overlap: int = OVERLAP_CHARS) -> list[str]:
    """Paragraphs packed into chunks of at most max_chars; each chunk after the first starts
    with the tail of the previous one so a sentence cut at a boundary keeps its context."""
    pieces = [
        piece
        for paragraph in PARAGRAPH_BREAK.split(text)
        if paragraph.strip()
        for piece in split_long(paragraph.strip(), max_chars, overlap)
    ]
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + 2 + len(piece) > max_chars:
            chunks.append(current)
            carried = tail(current, overlap)
            fits = carried and len(carried) + 2 + len(piece) <= max_chars
            current = f"{carried}\n\n{piece}" if fits else piece
        else:
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return chunks


def split_long(paragraph: str, max_chars: int, overlap: int) -> list[str]:
    """A paragraph longer than max_chars as word-aligned windows overlapping by ~overlap."""
    if len(paragraph) <= max_chars:
        return [paragraph]
    windows = []
    start = 0
    while start < len(paragraph):
        end = min(start + max_chars, len(paragraph))
        if end < len(paragraph):
            space = paragraph.rfind(" ", start + max_chars // 2, end)
            end = space if space > start else end
        windows.append(paragraph[start:end].strip())
        if end >= len(paragraph):
            break
        start = max(end - overlap, start + 1)
        space = paragraph.find(" ", start, end)
        start = space + 1 if space != -1 else start
    return [w for w in windows if w]


def tail(text: str, size: int) -> str:
    """The last ~size characters of text, starting at a word boundary."""
    if size <= 0:
        return ""
    if len(text) <= size:
        return text
    cut = text[-size:]
    space = cut.find(" ")
    return cut[space + 1 :] if space != -1 else cut
