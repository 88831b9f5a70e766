"""The kit's bounded JSON decoder: json.loads's answers and errors for ordinary documents,
a named refusal for non-finite numbers and deep nesting."""

from __future__ import annotations

import json

import pytest

from services.kit.json_limits import MAX_JSON_DEPTH, JsonRefused, loads_bounded


def test_ordinary_documents_decode_as_json_loads_does() -> None:
    text = '{"a": [1, 2.5, -0.0, 1e300, "é\\u2028", null, true], "b": {"c": ""}}'
    documents: list[str | bytes] = [
        text,
        text.encode(),
        text.encode("utf-8-sig"),  # json.loads accepts a BOM in bytes
        text.encode("utf-16"),
        text.encode("utf-32-le"),
    ]
    for document in documents:
        assert loads_bounded(document) == json.loads(document)


def test_a_bom_in_text_is_refused_as_json_loads_refuses_it() -> None:
    with pytest.raises(json.JSONDecodeError, match="BOM"):
        json.loads('\ufeff{"a": 1}')
    with pytest.raises(json.JSONDecodeError, match="BOM"):
        loads_bounded('\ufeff{"a": 1}')


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_non_finite_numbers_are_refused_by_name(number: str) -> None:
    for document in (f'{{"x": [{number}]}}', f'{{"x": [{number}]}}'.encode()):
        with pytest.raises(JsonRefused, match="not finite") as refused:
            loads_bounded(document)
        assert number in str(refused.value)


def test_nesting_over_the_limit_is_refused_and_at_the_limit_decodes() -> None:
    at_limit = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert loads_bounded(at_limit) == json.loads(at_limit)
    with pytest.raises(JsonRefused, match=f"deeper than {MAX_JSON_DEPTH}"):
        loads_bounded("[" + at_limit + "]")
    assert loads_bounded('["[[[[' + "[" * MAX_JSON_DEPTH + '"]') == json.loads(
        '["[[[[' + "[" * MAX_JSON_DEPTH + '"]'
    )
