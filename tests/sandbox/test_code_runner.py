"""execute_code against the running service: results, and every isolation limit holding."""

from __future__ import annotations

import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox.conftest import (
    SERVICE_SECRET,
    Sandbox,
    child_processes,
    sandbox_user_processes,
    wait_until_gone,
)
from tests.support.polling import wait_until
from tests.support.processes import ROOT

needs_javac = pytest.mark.skipif(shutil.which("javac") is None, reason="javac not installed")
# Only skipped when bwrap is absent: installed but broken bwrap must fail these tests.
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bwrap not installed")


def test_python_hello_world(sandbox: Sandbox) -> None:
    result = sandbox.run_code("print('hello, world')")
    assert result["status"] == "ok"
    assert result["_response"]["status"] == "ok"
    assert result["stdout"] == "hello, world\n"
    assert result["exit_code"] == 0
    assert result["language"] == "python"
    assert result["execution_environment"]["used"] in ("bubblewrap", "rlimits")


def test_runtime_error_reports_traceback_and_exit_code(sandbox: Sandbox) -> None:
    result = sandbox.run_code("import sys\nprint('out')\nraise ValueError('boom')")
    assert result["status"] == "runtime_error"
    assert result["exit_code"] == 1
    assert result["stdout"] == "out\n"
    assert 'File "main.py", line 3' in result["stderr"]
    assert "ValueError: boom" in result["_response"]["stderr"]
    assert "launcher" not in result["stderr"]


def test_infinite_loop_is_killed_by_the_timeout(sandbox: Sandbox) -> None:
    result = sandbox.run_code(
        "print('looping', flush=True)\nwhile True:\n    pass", timeout_seconds=2
    )
    assert result["status"] == "timeout"
    assert result["exit_code"] is None
    assert result["stdout"] == "looping\n"  # it ran, and was stopped from outside
    assert result["limits"]["timeout_seconds"] == 2
    assert wait_until_gone(sandbox_user_processes) == []
    assert wait_until_gone(lambda: child_processes(sandbox.process.pid)) == []


@needs_bwrap
def test_timeout_kills_the_whole_process_tree(sandbox: Sandbox) -> None:
    code = (
        "import os, signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "for _ in range(3):\n"
        "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'],\n"
        "                     start_new_session=True)\n"
        "print('children started', flush=True)\n"
        "time.sleep(600)\n"
    )
    result = sandbox.run_code(code, timeout_seconds=2)
    assert result["status"] == "timeout"
    assert "children started" in result["stdout"]
    assert wait_until_gone(sandbox_user_processes) == []
    assert wait_until_gone(lambda: child_processes(sandbox.process.pid)) == []


def test_memory_limit_stops_a_large_allocation(sandbox: Sandbox) -> None:
    small = sandbox.run_code("x = bytearray(32 * 1024 * 1024)\nprint(len(x))", memory_limit_mb=128)
    assert small["status"] == "ok", small
    big = sandbox.run_code("x = bytearray(1024 ** 3)\nprint('allocated')", memory_limit_mb=128)
    assert big["status"] != "ok"
    assert "allocated" not in big["stdout"]
    assert "MemoryError" in big["stderr"]


@pytest.fixture
def loopback_listener() -> Iterator[tuple[int, list[str]]]:
    """A TCP server on 127.0.0.1 recording every connection it accepts."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[str] = []

    def accept() -> None:
        while True:
            try:
                conn, peer = server.accept()
            except OSError:
                return
            accepted.append(str(peer))
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()


@needs_bwrap
def test_code_cannot_reach_the_network(
    sandbox: Sandbox, loopback_listener: tuple[int, list[str]]
) -> None:
    port, accepted = loopback_listener
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass  # the listener is reachable from the host
    wait_until(lambda: len(accepted) == 1, "the host's own connection accepted")
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)\nprint('in')"
    result = sandbox.run_code(code, timeout_seconds=10)
    assert result["status"] == "runtime_error"
    assert "in" not in result["stdout"]
    assert "ConnectionRefusedError" in result["stderr"] or "OSError" in result["stderr"]
    assert len(accepted) == 1


def test_service_environment_is_not_visible(sandbox: Sandbox) -> None:
    code = (
        "import os, glob\n"
        "print(sorted(os.environ.items()))\n"
        "for path in glob.glob('/proc/*/environ'):\n"
        "    try:\n"
        "        print(open(path, 'rb').read())\n"
        "    except OSError:\n"
        "        pass\n"
    )
    result = sandbox.run_code(code)
    assert result["status"] == "ok"
    assert "PATH" in result["stdout"]
    assert SERVICE_SECRET not in result["stdout"]
    assert "OPENAI_API_KEY" not in result["stdout"]
    assert "RUST_SANDBOX" not in result["stdout"]


@needs_bwrap
def test_writes_to_host_tmp_and_repo_do_not_happen(sandbox: Sandbox) -> None:
    name = f"sandbox-escape-{uuid.uuid4()}"
    targets = [Path("/tmp") / name, ROOT / name, sandbox.work_root / name]
    lines = [f"for target in {[str(t) for t in targets]!r}:"]
    lines += [
        "    try:",
        "        open(target, 'w').write('x')",
        "        print('wrote', target)",
        "    except OSError as exc:",
        "        print('refused', target, type(exc).__name__)",
        "open('local.txt', 'w').write('inside the workspace')",
    ]
    result = sandbox.run_code("\n".join(lines))
    assert result["status"] == "ok", result
    for target in targets:
        assert not target.exists(), f"{target} was written on the host"
    assert list(sandbox.work_root.iterdir()) == [], "the workspace was not removed"


@needs_bwrap
def test_fork_bomb_is_contained(sandbox: Sandbox) -> None:
    code = (
        "import os, time\n"
        "forks = failures = 0\n"
        "deadline = time.time() + 2\n"
        "while time.time() < deadline:\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(30)\n"
        "            os._exit(0)\n"
        "        forks += 1\n"
        "    except OSError:\n"
        "        failures += 1\n"
        "print('forks', forks, 'failures', failures, flush=True)\n"
        "while True:\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        "        pass\n"
    )
    result = sandbox.run_code(code, timeout_seconds=4)
    assert result["status"] == "timeout"
    forks = int(result["stdout"].split()[1])
    failures = int(result["stdout"].split()[3])
    assert forks < result["limits"]["max_processes"], result["stdout"]
    assert failures > 0
    assert wait_until_gone(sandbox_user_processes) == []
    assert wait_until_gone(lambda: child_processes(sandbox.process.pid)) == []
    assert sandbox.healthy()
    assert sandbox.run_code("print('still fine')")["stdout"] == "still fine\n"


def test_huge_output_is_truncated_with_a_marker(sandbox: Sandbox) -> None:
    code = "import sys\nsys.stdout.write('x' * 20_000_000)\nsys.stderr.write('e' * 200_000)"
    result = sandbox.run_code(code, timeout_seconds=20)
    limit = result["limits"]["max_output_bytes"]
    assert result["status"] == "ok"
    assert result["stdout"].startswith("x" * limit)
    assert "[output truncated: 19934464 more bytes" in result["stdout"]
    assert len(result["stdout"]) < limit + 200
    assert "[output truncated:" in result["stderr"]


def test_large_files_are_capped_at_the_file_size_limit(sandbox: Sandbox) -> None:
    # Python ignores SIGXFSZ, so RLIMIT_FSIZE shows as EFBIG with the file cut at the limit.
    code = (
        "import errno, os\n"
        "try:\n"
        "    with open('big.bin', 'wb') as out:\n"
        "        out.write(b'0' * (64 * 1024 * 1024))\n"
        "    print('written')\n"
        "except OSError as exc:\n"
        "    print(errno.errorcode[exc.errno], os.path.getsize('big.bin'))\n"
    )
    result = sandbox.run_code(code)
    assert result["status"] == "ok", result
    limit = result["limits"]["max_file_bytes"]
    assert limit < 64 * 1024 * 1024
    assert result["stdout"].split() == ["EFBIG", str(limit)]


@needs_bwrap
def test_private_tmp_is_size_limited(sandbox: Sandbox) -> None:
    code = (
        "import errno\n"
        "written = 0\n"
        "try:\n"
        "    for n in range(20):\n"
        "        open(f'/tmp/chunk{n}', 'wb').write(b'0' * (8 * 1024 * 1024))\n"
        "        written += 8\n"
        "except OSError as exc:\n"
        "    print('stopped', written, errno.errorcode[exc.errno])\n"
    )
    result = sandbox.run_code(code)
    assert result["status"] == "ok", result
    stopped, written, reason = result["stdout"].split()
    assert (stopped, reason) == ("stopped", "ENOSPC")
    assert int(written) <= 64  # of 160 MiB attempted; the tmpfs holds 64 MiB


def test_unsupported_language(sandbox: Sandbox) -> None:
    result = sandbox.run_code("puts 'hi'", language="ruby")
    assert result["status"] == "unsupported_language"
    assert result["_response"]["status"] == "unsupported_language"
    assert "ruby" in result["stderr"]


def test_bad_code_argument_answers_invalid_args(sandbox: Sandbox) -> None:
    reply = sandbox.tool("execute_code", {"code": 42})
    assert reply.status == "invalid_args"
    assert "'code' must be a string" in reply.stderr


def test_unsupported_environment_is_accepted_and_noted(sandbox: Sandbox) -> None:
    result = sandbox.run_code("print(1)", execution_environment="gpu-cluster")
    assert result["status"] == "ok"
    environment = result["execution_environment"]
    assert environment["requested"] == "gpu-cluster"
    assert any("gpu-cluster" in note for note in environment["notes"])
    plain = sandbox.run_code("print(1)", execution_environment="generic-docker")
    assert plain["execution_environment"]["notes"] == []


def test_timeout_is_capped_and_defaulted(sandbox: Sandbox) -> None:
    assert sandbox.run_code("pass")["limits"]["timeout_seconds"] == 30
    assert sandbox.run_code("pass", timeout_seconds=999)["limits"]["timeout_seconds"] == 60
    assert sandbox.run_code("pass")["limits"]["memory_limit_mb"] == 512


@needs_javac
def test_java_success(sandbox: Sandbox) -> None:
    code = (
        "public class Tool {\n"
        "  public static void main(String[] args) {\n"
        '    System.out.println("hello from java " + (6 * 7));\n'
        "  }\n"
        "}\n"
    )
    result = sandbox.run_code(code, language="java", timeout_seconds=30)
    assert result["status"] == "ok", result
    assert result["stdout"] == "hello from java 42\n"
    assert result["exit_code"] == 0


@needs_javac
def test_java_compile_error(sandbox: Sandbox) -> None:
    code = "public class Tool { public static void main(String[] a) { int x = ; } }"
    result = sandbox.run_code(code, language="java", timeout_seconds=30)
    assert result["status"] == "compile_error"
    assert "error" in result["compile_stderr"]
    assert "Tool.java" in result["_response"]["stderr"]
    assert result["stdout"] == ""
