"""Sandbox settings, read once from the environment (field names are the variable names)."""

from __future__ import annotations

import ipaddress
import os
from typing import Literal

from pydantic import AliasChoices, Field, field_validator

from services.kit.settings import ServiceSettings
from services.sandbox.egress_rules import EgressRule, normal_host, parse_allowlist


def _default_concurrency() -> int:
    return 2 * (os.cpu_count() or 1)


class SandboxSettings(ServiceSettings):
    RUST_SANDBOX_PORT: int = Field(
        8001, ge=0, le=65535, validation_alias=AliasChoices("RUST_SANDBOX_PORT", "SANDBOX_PORT")
    )
    RUST_SANDBOX_GRPC_PORT: int = Field(
        50053,
        ge=0,
        le=65535,
        validation_alias=AliasChoices("RUST_SANDBOX_GRPC_PORT", "SANDBOX_GRPC_PORT"),
    )
    SANDBOX_MAX_TIMEOUT_SECONDS: int = Field(60, ge=1)
    SANDBOX_DEFAULT_TIMEOUT_SECONDS: int = Field(30, ge=1)
    SANDBOX_MAX_MEMORY_MB: int = Field(4096, ge=32)
    SANDBOX_DEFAULT_MEMORY_MB: int = Field(512, ge=32)
    # All executions together (cgroup); 0: three quarters of the machine's memory.
    SANDBOX_TOTAL_MEMORY_MB: int = Field(0, ge=0)
    SANDBOX_MAX_CONCURRENCY: int = Field(default_factory=_default_concurrency, ge=1, le=256)
    SANDBOX_MAX_PROCESSES: int = Field(64, ge=4)
    SANDBOX_MAX_OUTPUT_BYTES: int = Field(64 * 1024, ge=256)
    SANDBOX_MAX_FILE_BYTES: int = Field(16 * 1024 * 1024, ge=1024)
    # Each execution's tmpfs (its working directory and /tmp together): bytes and inodes.
    SANDBOX_TMPFS_BYTES: int = Field(64 * 1024 * 1024, ge=1024 * 1024)
    SANDBOX_TMPFS_INODES: int = Field(16384, ge=64)
    # auto: mount that tmpfs when the service may (root); off: plain directories on disk.
    SANDBOX_DISK_QUOTA: Literal["auto", "off"] = "auto"
    SANDBOX_JVM_OVERHEAD_MB: int = Field(1024, ge=0)
    SANDBOX_ISOLATION: Literal["auto", "bubblewrap", "rlimits"] = "auto"
    SANDBOX_UID_BASE: int = Field(60000, ge=1000)
    SANDBOX_WORK_ROOT: str = ""
    # Where cgroup hierarchies are mounted, for the per-execution memory, process and CPU
    # limits; empty = never use cgroups (rlimits only).
    SANDBOX_CGROUP_ROOT: str = "/sys/fs/cgroup"
    # none: no network at all; allowlist: HTTP(S) to SANDBOX_EGRESS_ALLOW through the
    # service's filtering proxy (needs bubblewrap).
    SANDBOX_EGRESS: Literal["none", "allowlist"] = "none"
    SANDBOX_EGRESS_ALLOW: str = ""  # host, host:port, *.domain[:port]; comma-separated
    # Tests only: name=ip pairs the proxy uses instead of DNS, exempt from the address check.
    SANDBOX_EGRESS_TEST_HOSTS: str = ""
    WEB_SEARCH_PROVIDER: Literal["mock", "searxng"] = "mock"
    SEARXNG_URL: str = "http://localhost:8080"
    SEARXNG_TIMEOUT_SECONDS: float = Field(10.0, gt=0)
    WEB_SEARCH_MAX_RESULTS: int = Field(5, ge=1, le=50)

    @field_validator(
        "WEB_SEARCH_PROVIDER",
        "SANDBOX_ISOLATION",
        "SANDBOX_DISK_QUOTA",
        "SANDBOX_EGRESS",
        mode="before",
    )
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("SANDBOX_EGRESS_ALLOW")
    @classmethod
    def _rules(cls, value: str) -> str:
        parse_allowlist(value)  # a bad entry stops start-up with its text
        return value

    @field_validator("SANDBOX_EGRESS_TEST_HOSTS")
    @classmethod
    def _test_hosts(cls, value: str) -> str:
        test_host_map(value)
        return value

    def egress_rules(self) -> tuple[EgressRule, ...]:
        return parse_allowlist(self.SANDBOX_EGRESS_ALLOW)

    def egress_test_hosts(self) -> dict[str, str]:
        return test_host_map(self.SANDBOX_EGRESS_TEST_HOSTS)


def test_host_map(text: str) -> dict[str, str]:
    """`name=ip,...`; raises ValueError on a malformed pair or address."""
    mapping = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        name, sep, address = pair.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"expected name=ip, got {pair!r}")
        mapping[normal_host(name)] = str(ipaddress.ip_address(address.strip()))
    return mapping
