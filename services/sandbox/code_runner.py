"""execute_code: Python (always) and Java (when javac is on PATH), each run confined."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from services.kit.logs import get_logger
from services.sandbox.cgroup_group import ExecutionGroup
from services.sandbox.cgroups import ExecutionCgroups
from services.sandbox.errors import InvalidToolArgs
from services.sandbox.isolation import (
    JAIL_PROCESSES,
    PROXY_PORT,
    Identity,
    Jail,
    Program,
    RunControls,
)
from services.sandbox.limits import MIB, ExecutionLimits
from services.sandbox.outcome import ToolOutcome
from services.sandbox.process_runner import RunResult, run_confined
from services.sandbox.protections import Protections
from services.sandbox.verdict import limit_status, run_status
from services.sandbox.workspace import Workspace

log = get_logger("sandbox.code")

# The JVM reserves address space far beyond its heap (code cache, class space, thread
# stacks), so Java gets -Xmx = memory_limit_mb and RLIMIT_AS = that plus a fixed allowance.
JVM_FLAGS = (
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:ReservedCodeCacheSize=32m",
    "-XX:CompressedClassSpaceSize=64m",
    "-XX:MaxMetaspaceSize=192m",
    "-XX:-UsePerfData",
    "-Xss1m",
)
# The JVM ignores HTTP(S)_PROXY; with egress it gets the jail's proxy as system properties.
JAVA_PROXY_FLAGS = tuple(
    f"-D{scheme}.{key}={value}"
    for scheme in ("http", "https")
    for key, value in (("proxyHost", "127.0.0.1"), ("proxyPort", PROXY_PORT))
)


@dataclass(frozen=True)
class CodeRun:
    """Everything one execution needs besides the source."""

    limits: ExecutionLimits
    identity: Identity
    deadline: float
    workspace: Workspace
    controls: RunControls


@dataclass(frozen=True)
class Toolchain:
    javac: str | None
    java: str | None

    @classmethod
    def detect(cls) -> Toolchain:
        javac, java = shutil.which("javac"), shutil.which("java")
        if javac and java:
            return cls(os.path.realpath(javac), os.path.realpath(java))
        return cls(None, None)

    def languages(self) -> list[str]:
        return ["python", "java"] if self.javac else ["python"]


class CodeRunner:
    def __init__(
        self, jail: Jail, toolchain: Toolchain, protections: Protections, jvm_overhead_mb: int
    ) -> None:
        self.jail = jail
        self.toolchain = toolchain
        self.protections = protections
        self.jvm_overhead_mb = jvm_overhead_mb

    async def execute(
        self, args: dict[str, Any], limits: ExecutionLimits, identity: Identity
    ) -> dict[str, Any]:
        """Run the code; returns the execute_code result object (without the envelope)."""
        language, code = parse_code_args(args)
        if language not in self.toolchain.languages():
            supported = ", ".join(self.toolchain.languages())
            return code_result(
                "unsupported_language",
                language,
                exit_code=None,
                stderr=f"unsupported language {language!r}; supported: {supported}",
            )
        try:
            return await self._protected(language, code, args, limits, identity)
        except OSError as exc:
            log.error("code_io_error", language=language, error=str(exc))
            return code_result("io_error", language, exit_code=None, stderr=str(exc))

    async def _protected(
        self,
        language: str,
        code: str,
        args: dict[str, Any],
        limits: ExecutionLimits,
        identity: Identity,
    ) -> dict[str, Any]:
        """Run inside the execution's workspace, cgroup and egress grant; say which applied."""
        deadline = time.monotonic() + limits.timeout_seconds
        memory = self._memory(language, limits)
        async with (
            self.protections.workspaces.fresh(identity) as workspace,
            execution_group(self.protections.cgroups, limits, memory) as group,
            self.protections.egress_grant(args, identity) as egress,
        ):
            tmp = workspace.tmp if workspace.quota else None
            controls = RunControls(group, None, tmp, egress.socket if egress else None)
            run = CodeRun(limits, identity, deadline, workspace, controls)
            result = await (self._java if language == "java" else self._python)(code, run)
            usage = group.usage() if group else None
            result["status"] = limit_status(result["status"], usage, workspace.full())
        seccomp = self.jail.mode == "bubblewrap" and self.protections.seccomp is not None
        result["protections"] = self.protections.summary(self.jail, group is not None, seccomp)
        if egress is not None:
            result["protections"]["network"] = egress.describe()
        return result

    def _memory(self, language: str, limits: ExecutionLimits) -> int:
        """The execution's memory ceiling: the JVM's own needs come on top of its heap."""
        if language == "java":
            return (limits.memory_mb + self.jvm_overhead_mb) * MIB
        return limits.memory_bytes

    async def _python(self, code: str, run: CodeRun) -> dict[str, Any]:
        write_source(run.workspace.work, "main.py", code, run.identity)
        program = Program("python", ("main.py",))
        result = await self._confined(program, run, run.limits.memory_bytes)
        return finished("python", result)

    async def _java(self, code: str, run: CodeRun) -> dict[str, Any]:
        assert self.toolchain.javac and self.toolchain.java
        write_source(run.workspace.work, "Tool.java", code, run.identity)
        heap = f"{run.limits.memory_mb}m"
        address_space = (run.limits.memory_mb + self.jvm_overhead_mb) * MIB
        javac_flags = tuple(f"-J{flag}" for flag in (*JVM_FLAGS, f"-Xmx{heap}"))
        compile_program = Program("exec", (self.toolchain.javac, *javac_flags, "Tool.java"))
        compiled = await self._confined(compile_program, run, address_space)
        if compiled.timed_out or compiled.exit_code != 0:
            return code_result(
                run_status(compiled) if compiled.timed_out else "compile_error",
                "java",
                exit_code=compiled.exit_code,
                compile_stdout=compiled.stdout,
                compile_stderr=compiled.stderr,
            )
        proxy = JAVA_PROXY_FLAGS if run.controls.egress_socket else ()
        java = (self.toolchain.java, *JVM_FLAGS, *proxy, f"-Xmx{heap}", "-cp", ".", "Tool")
        result = await self._confined(Program("exec", java), run, address_space)
        return finished("java", result, compiled)

    async def _confined(self, program: Program, run: CodeRun, address_space: int) -> RunResult:
        seccomp = self.protections.seccomp if self.jail.mode == "bubblewrap" else None
        fd = seccomp.open_for_child() if seccomp else None
        try:
            controls = replace(run.controls, seccomp_fd=fd)
            work = run.workspace.work
            argv = self.jail.command(
                program, run.limits, run.identity, work, address_space, controls
            )
            return await run_confined(
                argv,
                self.jail.environment(work, run.workspace.tmp),
                work,
                max(0.0, run.deadline - time.monotonic()),
                run.limits.max_output_bytes,
                () if fd is None else (fd,),
            )
        finally:
            if fd is not None:
                os.close(fd)


@asynccontextmanager
async def execution_group(
    cgroups: ExecutionCgroups | None, limits: ExecutionLimits, memory_bytes: int
) -> AsyncIterator[ExecutionGroup | None]:
    """The execution's cgroup (None without cgroups or when the kernel refuses one: the
    rlimits still apply); every process in it is killed and the group removed afterwards."""
    group = None
    if cgroups is not None:
        try:
            group = cgroups.create(
                memory_bytes, limits.max_processes + JAIL_PROCESSES, limits.cpu_share
            )
        except OSError as exc:
            log.warning("cgroup_failed", error=str(exc))
    try:
        yield group
    finally:
        if group is not None:
            group.kill_all()
            await asyncio.to_thread(group.remove)


def parse_code_args(args: dict[str, Any]) -> tuple[str, str]:
    language = args.get("language") or "python"
    code = args.get("code", "")
    if not isinstance(language, str):
        raise InvalidToolArgs("execute_code: 'language' must be a string")
    if not isinstance(code, str):
        raise InvalidToolArgs("execute_code: 'code' must be a string")
    return language.strip().lower(), code


def write_source(workdir: str, name: str, code: str, owner: Identity) -> None:
    path = Path(workdir) / name
    try:
        source = code.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidToolArgs(f"execute_code: 'code' is not valid text ({exc.reason})") from None
    path.write_bytes(source)
    if owner.uid >= 0:
        os.chown(path, owner.uid, owner.gid)


def finished(language: str, result: RunResult, compiled: RunResult | None = None) -> dict[str, Any]:
    status = run_status(result)
    return code_result(
        status,
        language,
        exit_code=result.exit_code,
        stdout=result.stdout,
        stderr=result.stderr,
        compile_stdout=compiled.stdout if compiled else "",
        compile_stderr=compiled.stderr if compiled else "",
    )


def code_result(
    status: str,
    language: str,
    exit_code: int | None,
    stdout: str = "",
    stderr: str = "",
    compile_stdout: str = "",
    compile_stderr: str = "",
) -> dict[str, Any]:
    return {
        "status": status,
        "language": language,
        "stdout": stdout,
        "stderr": stderr,
        "compile_stdout": compile_stdout,
        "compile_stderr": compile_stderr,
        "exit_code": exit_code,
    }


def code_outcome(result: dict[str, Any]) -> ToolOutcome:
    """The ToolResponse: stdout is the result JSON; stderr is compile + run stderr."""
    stderr = str(result.get("compile_stderr", "")) + str(result.get("stderr", ""))
    return ToolOutcome.from_json(str(result["status"]), result, stderr)
