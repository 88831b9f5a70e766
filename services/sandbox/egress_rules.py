"""Which hosts and ports a program may reach through the egress proxy, and which addresses
are never reached whatever the name: private, loopback, link-local (cloud metadata),
multicast, reserved and the sandbox host's own addresses."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import psutil

from services.sandbox.errors import InvalidToolArgs

DEFAULT_PORTS = (80, 443)
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class EgressRule:
    """`host`, `*.domain` (its subdomains) or an IP literal; port None means 80 and 443."""

    host: str
    port: int | None

    def __str__(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def allows(self, host: str, port: int) -> bool:
        if not self._port_ok(port):
            return False
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])
        return host == self.host

    def covers(self, other: EgressRule) -> bool:
        """Everything `other` allows, this rule allows too (a request may only narrow)."""
        ports = DEFAULT_PORTS if other.port is None else (other.port,)
        if not all(self._port_ok(port) for port in ports):
            return False
        if other.host.startswith("*."):
            return self.host.startswith("*.") and other.host[1:].endswith(self.host[1:])
        return self.allows(other.host, ports[0])

    def _port_ok(self, port: int) -> bool:
        return port in (DEFAULT_PORTS if self.port is None else (self.port,))


def normal_host(host: str) -> str:
    return host.strip().rstrip(".").lower()


def parse_rule(text: str) -> EgressRule:
    """`host`, `host:port`, `*.domain[:port]`; raises ValueError naming what is wrong."""
    entry = text.strip()
    host, port = entry, None
    if entry.count(":") == 1:
        host, _, digits = entry.partition(":")
        if not digits.isdigit() or not 0 < int(digits) < 65536:
            raise ValueError(f"bad port in egress rule {entry!r}")
        port = int(digits)
    host = normal_host(host)
    bare = host[2:] if host.startswith("*.") else host
    if not bare or "*" in bare or "/" in bare or " " in bare:
        raise ValueError(f"bad host in egress rule {entry!r}")
    return EgressRule(host, port)


def parse_allowlist(text: str) -> tuple[EgressRule, ...]:
    return tuple(parse_rule(part) for part in text.split(",") if part.strip())


def narrowed(service: tuple[EgressRule, ...], args: dict[str, Any]) -> tuple[EgressRule, ...]:
    """The rules for one execution: the request's `egress_allow` entries that the service
    list covers (the rest are dropped), or the service list when the request names none."""
    requested = args.get("egress_allow")
    if requested is None:
        return service
    if not isinstance(requested, list) or not all(isinstance(e, str) for e in requested):
        raise InvalidToolArgs("execute_code: 'egress_allow' must be a list of host[:port]")
    try:
        wanted = [parse_rule(entry) for entry in requested]
    except ValueError as exc:
        raise InvalidToolArgs(f"execute_code: {exc}") from None
    return tuple(rule for rule in wanted if any(mine.covers(rule) for mine in service))


def allowed(rules: tuple[EgressRule, ...], host: str, port: int) -> bool:
    return any(rule.allows(normal_host(host), port) for rule in rules)


def own_addresses() -> frozenset[IpAddress]:
    """Every address of this machine's interfaces."""
    found: set[IpAddress] = set()
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            try:
                found.add(ipaddress.ip_address(entry.address.split("%")[0]))
            except ValueError:
                continue  # a MAC address
    return frozenset(found)


def address_refusal(address: str, own: frozenset[IpAddress]) -> str | None:
    """Why this address may not be reached, or None when it may."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    checks = (
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_private, "private"),
        (ip in own, "own address"),
        (not ip.is_global, "not a public address"),
    )
    return next((reason for failed, reason in checks if failed), None)
