"""The seccomp filter: calls that widen the kernel's attack surface fail with EPERM inside
the jail, while Python (threads, subprocesses) and Java still work."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from tests.sandbox.conftest import Sandbox, running_sandbox
from tests.support.logs import wait_for_log
from tests.support.processes import ServiceProcess, base_env, free_port, http_ready

pytestmark = [
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bwrap not installed"),
    pytest.mark.skipif(platform.machine() != "x86_64", reason="syscall numbers are x86_64"),
]
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
# x86_64 numbers; arguments that would be harmless (or fail differently) without the filter.
CALLS = {
    "unshare(CLONE_NEWUSER)": (272, CLONE_NEWUSER),
    "unshare(CLONE_NEWNET)": (272, CLONE_NEWNET),
    "io_uring_setup": (425, 8, 0),
    "keyctl": (250, 0, 0),
    "add_key": (248, 0, 0, 0, 0, 0),
    "request_key": (249, 0, 0, 0, 0),
    "ptrace": (101, 0, 1),
    "perf_event_open": (298, 0, 0, -1, -1, 0),
    "bpf": (321, 0, 0, 0),
    "mount": (165, 0, 0, 0, 0, 0),
    "umount2": (166, 0, 0),
    "pivot_root": (155, 0, 0),
    "open_tree": (428, -1, 0, 0),
    "move_mount": (429, -1, 0, -1, 0, 0),
    "fsopen": (430, 0, 0),
    "kexec_load": (246, 0, 0, 0, 0),
    "kexec_file_load": (320, -1, -1, 0, 0, 0),
    "init_module": (175, 0, 0, 0),
    "finit_module": (313, -1, 0, 0),
    "delete_module": (176, 0, 0),
}
PROBE = f"""
import ctypes, json
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
found = {{}}
for name, (number, *args) in {CALLS!r}.items():
    ctypes.set_errno(0)
    answer = libc.syscall(ctypes.c_long(number), *(ctypes.c_long(a) for a in args))
    found[name] = 'ok' if answer >= 0 else ctypes.get_errno()
print(json.dumps(found))
"""


def test_dangerous_calls_fail_with_eperm(sandbox: Sandbox) -> None:
    result = sandbox.run_code(PROBE)
    assert result["status"] == "ok", result
    answers = json.loads(result["stdout"])
    assert answers == dict.fromkeys(CALLS, 1), answers  # 1 = EPERM


def test_nested_namespaces_cannot_be_made(sandbox: Sandbox) -> None:
    code = (
        "import subprocess\n"
        "run = subprocess.run(['unshare', '-U', '-n', 'true'], capture_output=True, text=True)\n"
        "print(run.returncode, run.stderr.strip())"
    )
    result = sandbox.run_code(code)
    assert result["status"] == "ok", result
    assert result["stdout"].startswith("1 ") and "Operation not permitted" in result["stdout"]


def test_threads_and_subprocesses_still_work(sandbox: Sandbox) -> None:
    code = (
        "import subprocess, threading\n"
        "out = []\n"
        "threads = [threading.Thread(target=out.append, args=(n,)) for n in range(8)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(len(out), subprocess.run(['echo', 'child'], capture_output=True, text=True).stdout)"
    )
    result = sandbox.run_code(code)
    assert result["status"] == "ok", result
    assert result["stdout"] == "8 child\n\n"


def test_health_and_results_say_which_protections_applied(sandbox: Sandbox) -> None:
    health = httpx.get(sandbox.url + "/health", timeout=5).json()["protections"]
    result = sandbox.run_code("print(1)")["protections"]
    for protections in (health, result):
        assert protections["isolation"] == "bubblewrap"
        assert protections["seccomp"].endswith("call groups denied")
        assert protections["user_namespaces"] == "denied"


def test_a_bwrap_that_refuses_the_filter_leaves_seccomp_off_not_every_run_broken(
    tmp_path: Path,
) -> None:
    real = shutil.which("bwrap")
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" --seccomp "*) echo "bwrap: seccomp not supported" >&2; exit 1;; esac\n'
        f'exec {real} "$@"\n'
    )
    fake.chmod(0o755)
    with running_sandbox(tmp_path, PATH=f"{fake.parent}:/usr/local/bin:/usr/bin:/bin") as service:
        result = service.run_code("print('runs')")
        assert result["stdout"] == "runs\n", result
        assert result["protections"]["seccomp"] == "off"
        assert result["protections"]["isolation"] == "bubblewrap"
        wait_for_log(service.process, "seccomp not supported")


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to drop to nobody"
)
def test_a_service_without_root_keeps_bubblewrap_and_denies_user_namespaces() -> None:
    """Without root bwrap makes a user namespace; --disable-userns (which needs
    --unshare-user) and the filter keep the program from making another."""
    work = Path(tempfile.mkdtemp(prefix="sandbox-nonroot-"))
    work.chmod(0o777)
    grpc_port, http_port = free_port(), free_port()
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    process = ServiceProcess(
        name="sandbox",
        argv=[*drop, sys.executable, "-m", "services.sandbox"],
        env=base_env(
            RUST_SANDBOX_PORT=str(http_port),
            RUST_SANDBOX_GRPC_PORT=str(grpc_port),
            SANDBOX_WORK_ROOT=str(work),
            HOME=str(work),
        ),
        cwd=work,
        log_path=work / "sandbox.log",
        ready=[http_ready(http_port)],
    )
    process.start(timeout=60)
    try:
        service = Sandbox(process, grpc_port, http_port, work)
        result = service.run_code(
            "import subprocess\n"
            "run = subprocess.run(['unshare', '-U', 'true'], capture_output=True, text=True)\n"
            "print(run.returncode, run.stderr.strip())"
        )
    finally:
        process.stop()
        shutil.rmtree(work, ignore_errors=True)
    assert result["execution_environment"]["used"] == "bubblewrap", result
    assert result["stdout"] == "1 unshare: unshare failed: Operation not permitted\n", result
    assert result["protections"]["user_namespaces"] == "denied"
