"""The resource limits of one execution, resolved from a request and the service caps."""

from __future__ import annotations

from dataclasses import dataclass

from services.sandbox.cpu_limit import cpu_share
from services.sandbox.errors import InvalidToolRequest
from services.sandbox.settings import SandboxSettings

MIB = 1024 * 1024


@dataclass(frozen=True)
class ExecutionLimits:
    timeout_seconds: int
    memory_mb: int
    max_processes: int
    max_file_bytes: int
    max_output_bytes: int
    cpu_limit_mhz: int = 0
    cpu_share: float | None = None  # of one core; None = unlimited

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * MIB

    def as_json(self) -> dict[str, int | float | None]:
        return {
            "timeout_seconds": self.timeout_seconds,
            "cpu_limit_mhz": self.cpu_limit_mhz,
            "cpu_share_of_one_core": None if self.cpu_share is None else round(self.cpu_share, 3),
            "memory_limit_mb": self.memory_mb,
            "max_processes": self.max_processes,
            "max_file_bytes": self.max_file_bytes,
            "max_output_bytes": self.max_output_bytes,
        }


def resolve_limits(
    timeout_seconds: int,
    memory_limit_mb: int,
    settings: SandboxSettings,
    cpu_limit_mhz: int = 0,
    core_mhz: float = 1000.0,
) -> ExecutionLimits:
    """0 means "the default" (no CPU limit for cpu_limit_mhz); values above the service caps
    are lowered to the caps."""
    if timeout_seconds < 0:
        raise InvalidToolRequest(f"timeout_seconds must not be negative (got {timeout_seconds})")
    if memory_limit_mb < 0:
        raise InvalidToolRequest(f"memory_limit_mb must not be negative (got {memory_limit_mb})")
    if cpu_limit_mhz < 0:
        raise InvalidToolRequest(f"cpu_limit_mhz must not be negative (got {cpu_limit_mhz})")
    timeout = timeout_seconds or settings.SANDBOX_DEFAULT_TIMEOUT_SECONDS
    memory = memory_limit_mb or settings.SANDBOX_DEFAULT_MEMORY_MB
    return ExecutionLimits(
        timeout_seconds=min(timeout, settings.SANDBOX_MAX_TIMEOUT_SECONDS),
        memory_mb=min(memory, settings.SANDBOX_MAX_MEMORY_MB),
        max_processes=settings.SANDBOX_MAX_PROCESSES,
        max_file_bytes=settings.SANDBOX_MAX_FILE_BYTES,
        max_output_bytes=settings.SANDBOX_MAX_OUTPUT_BYTES,
        cpu_limit_mhz=cpu_limit_mhz,
        cpu_share=cpu_share(cpu_limit_mhz, core_mhz),
    )
