"""execute_code: Python (always) and Java (when javac is on PATH), each run confined."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.kit.logs import get_logger
from services.sandbox.errors import InvalidToolArgs
from services.sandbox.isolation import Identity, Jail, Program
from services.sandbox.limits import MIB, ExecutionLimits
from services.sandbox.outcome import ToolOutcome
from services.sandbox.process_runner import RunResult, run_confined
from services.sandbox.workspace import fresh_workspace

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


@dataclass(frozen=True)
class CodeRun:
    """Everything one execution needs besides the source."""

    limits: ExecutionLimits
    identity: Identity
    deadline: float
    cpu_group: Path | None = None  # the slot's cgroup.procs when CPU is throttled by cgroup


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
        self, jail: Jail, toolchain: Toolchain, work_root: str, jvm_overhead_mb: int
    ) -> None:
        self.jail = jail
        self.toolchain = toolchain
        self.work_root = work_root
        self.jvm_overhead_mb = jvm_overhead_mb

    async def execute(
        self,
        args: dict[str, Any],
        limits: ExecutionLimits,
        identity: Identity,
        cpu_group: Path | None = None,
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
        run = CodeRun(limits, identity, time.monotonic() + limits.timeout_seconds, cpu_group)
        try:
            with fresh_workspace(self.work_root, identity) as workdir:
                if language == "java":
                    return await self._java(code, workdir, run)
                return await self._python(code, workdir, run)
        except OSError as exc:
            log.error("code_io_error", language=language, error=str(exc))
            return code_result("io_error", language, exit_code=None, stderr=str(exc))

    async def _python(self, code: str, workdir: str, run: CodeRun) -> dict[str, Any]:
        write_source(workdir, "main.py", code, run.identity)
        program = Program("python", ("main.py",))
        result = await self._confined(program, workdir, run, run.limits.memory_bytes)
        return finished("python", result)

    async def _java(self, code: str, workdir: str, run: CodeRun) -> dict[str, Any]:
        assert self.toolchain.javac and self.toolchain.java
        write_source(workdir, "Tool.java", code, run.identity)
        heap = f"{run.limits.memory_mb}m"
        address_space = (run.limits.memory_mb + self.jvm_overhead_mb) * MIB
        javac_flags = tuple(f"-J{flag}" for flag in (*JVM_FLAGS, f"-Xmx{heap}"))
        compile_program = Program("exec", (self.toolchain.javac, *javac_flags, "Tool.java"))
        compiled = await self._confined(compile_program, workdir, run, address_space)
        if compiled.timed_out or compiled.exit_code != 0:
            status = "timeout" if compiled.timed_out else "compile_error"
            return code_result(
                status,
                "java",
                exit_code=compiled.exit_code,
                compile_stdout=compiled.stdout,
                compile_stderr=compiled.stderr,
            )
        java = (self.toolchain.java, *JVM_FLAGS, f"-Xmx{heap}", "-cp", ".", "Tool")
        result = await self._confined(Program("exec", java), workdir, run, address_space)
        return finished("java", result, compiled)

    async def _confined(
        self, program: Program, workdir: str, run: CodeRun, address_space: int
    ) -> RunResult:
        argv = self.jail.command(
            program, run.limits, run.identity, workdir, address_space, run.cpu_group
        )
        remaining = max(0.0, run.deadline - time.monotonic())
        return await run_confined(
            argv,
            self.jail.environment(workdir),
            workdir,
            remaining,
            run.limits.max_output_bytes,
        )


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


def run_status(result: RunResult) -> str:
    if result.timed_out:
        return "timeout"
    return "ok" if result.exit_code == 0 else "runtime_error"


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
