"""What the planner sends memory to store, cut to fit memory's body limit: a turn whose
prompt or answer is too big is stored clipped (and marked so), never refused and lost."""

from __future__ import annotations

import json

# Room for everything in a store body that is not message text (ids, names, stamps).
ENVELOPE_BYTES = 4096
MIN_TEXT_BYTES = 256


def encoded_size(text: str) -> int:
    """Bytes text takes in a JSON body (the client writes ASCII-only JSON)."""
    return len(json.dumps(text))


def share_budget(sizes: list[int], budget: int) -> list[int]:
    """Per-text byte allowances summing to at most budget: texts under an equal share keep
    their size, and what they leave is shared by the larger ones."""
    allowances = [0] * len(sizes)
    remaining = budget
    order = sorted(range(len(sizes)), key=lambda index: sizes[index])
    for position, index in enumerate(order):
        fair = remaining // (len(sizes) - position)
        allowances[index] = min(sizes[index], fair)
        remaining -= allowances[index]
    return allowances


def clip_to_size(text: str, allowance: int) -> str:
    """text, or its start plus a marker, taking at most allowance bytes as JSON."""
    if encoded_size(text) <= allowance:
        return text
    allowance = max(allowance, MIN_TEXT_BYTES)
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with its marker
        middle = (low + high + 1) // 2
        if encoded_size(text[:middle] + _marker(text, middle)) <= allowance:
            low = middle
        else:
            high = middle - 1
    return text[:low] + _marker(text, low)


def fit_texts(texts: list[str], body_limit: int, copies: int = 1) -> list[str]:
    """texts clipped so that `copies` copies of each fit in a body of body_limit bytes."""
    budget = max(body_limit - ENVELOPE_BYTES, MIN_TEXT_BYTES * len(texts) * copies) // copies
    sizes = [encoded_size(text) for text in texts]
    if sum(sizes) <= budget:
        return texts
    allowances = share_budget(sizes, budget)
    return [
        clip_to_size(text, allowance) for text, allowance in zip(texts, allowances, strict=True)
    ]


def _marker(text: str, kept: int) -> str:
    return f" ...[clipped: {len(text) - kept} of {len(text)} characters dropped to fit memory]"
