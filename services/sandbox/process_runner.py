"""Run one confined command: own session, wall-clock timeout, capped output, and the whole
process group killed afterwards whatever happened (timeout, cancellation, normal exit)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass

from services.sandbox.capture import CappedOutput, drain

PIPE_GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class RunResult:
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float


async def run_confined(
    argv: list[str],
    env: dict[str, str],
    cwd: str,
    timeout: float,
    output_limit: int,
    pass_fds: tuple[int, ...] = (),
) -> RunResult:
    """Raises OSError when the command cannot be started."""
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
        pass_fds=pass_fds,
    )
    out, err = CappedOutput(output_limit), CappedOutput(output_limit)
    pumps = asyncio.gather(drain(proc.stdout, out), drain(proc.stderr, err))
    try:
        timed_out = not await _exited_within(proc, timeout)
    except BaseException:
        kill_group(proc.pid)
        pumps.cancel()
        raise
    kill_group(proc.pid)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(pumps, PIPE_GRACE_SECONDS)
    exit_code = await proc.wait()
    return RunResult(
        exit_code=None if timed_out else exit_code,
        stdout=out.text(),
        stderr=err.text(),
        timed_out=timed_out,
        seconds=time.monotonic() - started,
    )


async def _exited_within(proc: asyncio.subprocess.Process, timeout: float) -> bool:
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        return False
    return True


def kill_group(pgid: int) -> None:
    """SIGKILL the session's process group; under bubblewrap this tears down the PID
    namespace (--die-with-parent), taking every descendant with it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
