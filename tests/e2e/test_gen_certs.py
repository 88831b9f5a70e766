"""scripts/gen_certs.sh leaves the development server and client keys readable by the
containers' user (uid 1000) whoever runs it, keeps the CA key private and says so."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.certs import GEN_CERTS

CONTAINER_UID = 1000


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory other users can traverse (pytest's own temporary ones are owner-only),
    as a bind mount's source is for the container."""
    base = Path(tempfile.mkdtemp(prefix="pagi-certs-"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base)


def test_dev_keys_are_readable_by_the_container_user(open_dir: Path) -> None:
    out = open_dir / "tls_certs"
    result = subprocess.run(
        ["bash", str(GEN_CERTS), str(out)], capture_output=True, text=True, check=True
    )
    assert "development keys only" in result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    for name in ("server.key", "client.key", "ca.crt", "server.crt", "client.crt"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644, name
    assert stat.S_IMODE((out / "ca.key").stat().st_mode) == 0o600
    if os.geteuid() == 0 and shutil.which("setpriv"):
        # Read them the way a container does: as uid 1000, not their owner.
        read = subprocess.run(
            [
                "setpriv",
                f"--reuid={CONTAINER_UID}",
                f"--regid={CONTAINER_UID}",
                "--clear-groups",
                "cat",
                str(out / "server.key"),
                str(out / "client.key"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert read.returncode == 0, read.stderr
        assert read.stdout.count("PRIVATE KEY-----") == 4
        denied = subprocess.run(
            [
                "setpriv",
                f"--reuid={CONTAINER_UID}",
                f"--regid={CONTAINER_UID}",
                "--clear-groups",
                "cat",
                str(out / "ca.key"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert denied.returncode != 0
