"""Chunking keeps paragraphs together, respects the size limit and overlaps neighbours."""

from __future__ import annotations

import itertools

from services.memory.chunking import chunk_text


def test_short_text_is_one_chunk() -> None:
    assert chunk_text("  One paragraph.  ") == ["One paragraph."]


def test_blank_text_has_no_chunks() -> None:
    assert chunk_text("\n\n   \n") == []


def test_paragraphs_are_packed_up_to_the_limit() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 30 for i in range(10)]
    chunks = chunk_text("\n\n".join(paragraphs), max_chars=400, overlap=0)
    assert all(len(c) <= 400 for c in chunks)
    assert len(chunks) > 1
    joined = "\n\n".join(chunks)
    assert all(p.strip() in joined for p in paragraphs)


def test_consecutive_chunks_overlap() -> None:
    paragraphs = [f"Sentence number {i} is here." for i in range(60)]
    chunks = chunk_text("\n\n".join(paragraphs), max_chars=200, overlap=60)
    for before, after in itertools.pairwise(chunks):
        assert after[:20] in before


def test_a_long_paragraph_is_split_on_words() -> None:
    paragraph = " ".join(f"w{i}" for i in range(1000))
    chunks = chunk_text(paragraph, max_chars=300, overlap=50)
    assert all(len(c) <= 300 for c in chunks)
    words = {w for c in chunks for w in c.split()}
    assert words == {f"w{i}" for i in range(1000)}
