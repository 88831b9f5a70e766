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


def loads_bounded(document: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """json.loads that refuses nesting over max_depth and NaN or infinite numbers."""
    check_depth(document, max_depth)
    return json.loads(
        document,
        parse_constant=lambda name: _refuse_number(name, document),
        parse_float=lambda text: _finite_float(text, document),
    )


def _may_exceed(document: str | bytes, max_depth: int) -> bool:
    """Cheap pre-check: fewer opening brackets than the limit cannot nest past it."""
    if isinstance(document, bytes):
        return document.count(b"[") + document.count(b"{") > max_depth
    return document.count("[") + document.count("{") > max_depth


def _finite_float(text: str, document: str | bytes) -> float:
    value = float(text)
    if not math.isfinite(value):
        _refuse_number(text, document)
    return value


def _refuse_number(token: str, document: str | bytes) -> Any:
    raise JsonRefused(f"JSON number {token[:40]} is not finite (only finite numbers)", document)
