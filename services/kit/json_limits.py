"""Bounded JSON decoding for everything that arrives from outside a process (request
bodies, args_json, model replies, program output, stored rows).

Python's decoder accepts nesting up to the interpreter's recursion limit, and values that
deep (or NaN and infinities) decode fine but break whatever handles them next: a response
encoder, a recursive walk, a strict JSON writer. Refusing them at the door, with an error
that names the limit, keeps one bad message from becoming a 500 later.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_JSON_DEPTH = 64
_STRING_TEXT = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_STRING_BYTES = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET_TEXT = re.compile(r"[^\[\]{}]+")
_NOT_BRACKET_BYTES = re.compile(rb"[^\[\]{}]+")


class JsonRefused(json.JSONDecodeError):
    """Well-formed enough to parse, but over a limit; a JSONDecodeError so every existing
    `except ValueError` / `except json.JSONDecodeError` handles it."""

    def __init__(self, reason: str, document: str | bytes) -> None:
        shown = document if isinstance(document, str) else document.decode("utf-8", "replace")
        super().__init__(reason, shown, 0)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def nesting_depth(document: str | bytes, stop_above: int | None = None) -> int:
    """How deep arrays and objects nest in document (brackets inside strings ignored);
    counting stops as soon as the depth passes stop_above."""
    if isinstance(document, bytes):
        skeleton = _NOT_BRACKET_BYTES.sub(b"", _STRING_BYTES.sub(b"", document)).decode("ascii")
    else:
        skeleton = _NOT_BRACKET_TEXT.sub("", _STRING_TEXT.sub("", document))
    depth = deepest = 0
    for bracket in skeleton:
        depth += 1 if bracket in "[{" else -1
        if depth > deepest:
            deepest = depth
            if stop_above is not None and deepest > stop_above:
                break
    return deepest


def check_depth(document: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise JsonRefused when document nests deeper than max_depth."""
    if _may_exceed(document, max_depth) and nesting_depth(document, max_depth) > max_depth:
        raise JsonRefused(
            f"JSON nested deeper than {max_depth} levels (limit {max_depth})", document
        )


class _NotFinite(Exception):
    def __init__(self, token: str) -> None:
        self.token = token


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


def _not_finite(name: str) -> Any:
    raise _NotFinite(name)


# One decoder for every call, as json.loads shares its default one (json.loads with hooks
# builds a new decoder and scanner per call, which cost as much as decoding a short reply).
_DECODER = json.JSONDecoder(parse_constant=_not_finite, parse_float=_finite_float)


def loads_bounded(document: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """json.loads that refuses nesting over max_depth and NaN or infinite numbers."""
    check_depth(document, max_depth)
    if isinstance(document, bytes | bytearray):
        text = document.decode(json.detect_encoding(document), "surrogatepass")
    elif document.startswith("\ufeff"):  # as json.loads refuses it
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", document, 0)
    else:
        text = document
    try:
        return _DECODER.decode(text)
    except _NotFinite as refused:
        _refuse_number(refused.token, document)


def _may_exceed(document: str | bytes, max_depth: int) -> bool:
    """Cheap pre-check: fewer opening brackets than the limit cannot nest past it."""
    if isinstance(document, bytes):
        return document.count(b"[") + document.count(b"{") > max_depth
    return document.count("[") + document.count("{") > max_depth


def _refuse_number(token: str, document: str | bytes) -> Any:
    raise JsonRefused(f"JSON number {token[:40]} is not finite (only finite numbers)", document)
