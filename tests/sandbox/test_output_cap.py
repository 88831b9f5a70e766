"""The output cap at its boundaries: exactly the limit is shown whole with no marker, one
byte more is cut with a marker counting that byte, and a multi-byte character split by the
limit is dropped whole (never shown as a replacement character)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sandbox.conftest import Sandbox, running_sandbox

LIMIT = 256  # the smallest SANDBOX_MAX_OUTPUT_BYTES allowed


@pytest.fixture(scope="module")
def capped_output(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with running_sandbox(
        tmp_path_factory.mktemp("output-cap"), SANDBOX_MAX_OUTPUT_BYTES=str(LIMIT)
    ) as service:
        yield service


def written(service: Sandbox, data: bytes) -> dict[str, str]:
    """Run a program that writes exactly `data` to stdout; its result."""
    code = f"import sys\nsys.stdout.buffer.write({data!r})\n"
    result = service.run_code(code)
    assert result["status"] == "ok", result
    assert result["limits"]["max_output_bytes"] == LIMIT
    return result


def marker(dropped: int) -> str:
    return f"\n[output truncated: {dropped} more bytes; limit {LIMIT} bytes]"


def test_output_of_exactly_the_limit_is_whole_and_unmarked(capped_output: Sandbox) -> None:
    assert written(capped_output, b"x" * LIMIT)["stdout"] == "x" * LIMIT


def test_one_byte_over_the_limit_is_cut_and_marked(capped_output: Sandbox) -> None:
    assert written(capped_output, b"x" * (LIMIT + 1))["stdout"] == "x" * LIMIT + marker(1)


def test_a_character_split_by_the_limit_is_dropped_whole(capped_output: Sandbox) -> None:
    # "é" is two bytes; its first byte is the last one the limit keeps.
    data = b"x" * (LIMIT - 1) + "é".encode() + b"tail"
    stdout = written(capped_output, data)["stdout"]
    assert stdout == "x" * (LIMIT - 1) + marker(2 + len(b"tail"))
    assert "\ufffd" not in stdout


def test_multi_byte_text_that_fits_exactly_is_whole(capped_output: Sandbox) -> None:
    data = "€".encode() * (LIMIT // 3) + b"x" * (LIMIT % 3)  # "€" is three bytes
    assert written(capped_output, data)["stdout"] == data.decode()
