"""The egress proxy: an HTTP CONNECT and plain-HTTP forward proxy that the sandbox runs for
each execution on a unix socket, the jail's only way out. It resolves names itself, reaches
only allowed host:port pairs and never a forbidden address, and logs and counts every
decision."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from services.kit.logs import get_logger
from services.sandbox.egress_rules import EgressRule, IpAddress, address_refusal, allowed
from services.sandbox.http_proxy_head import ProxyTarget, parse_head
from services.sandbox.isolation import Identity
from services.sandbox.metrics import EGRESS_DECISIONS

log = get_logger("sandbox.egress")
HEAD_LIMIT = 16 * 1024
HEAD_TIMEOUT_SECONDS = 30
CONNECT_TIMEOUT_SECONDS = 10
CHUNK = 64 * 1024
SOCKET_DIR_PREFIX = "pagi-egress-"


class EgressProxy:
    def __init__(
        self,
        rules: tuple[EgressRule, ...],
        own: frozenset[IpAddress],
        test_hosts: dict[str, str] | None = None,
    ) -> None:
        self.rules = rules
        self.own = own
        # Test-only: names answered from this map instead of DNS (loopback fakes), exempt
        # from the address check because they stand for public hosts.
        self.test_hosts = test_hosts or {}
        # Short (a socket path has at most 107 bytes) and named by our pid, so a later
        # start removes what a killed service left.
        remove_stale_socket_dirs()
        self.socket_dir = tempfile.mkdtemp(prefix=f"{SOCKET_DIR_PREFIX}{os.getpid()}-")
        self._numbers = itertools.count()

    def close(self) -> None:
        """Remove the (by now empty) socket directory."""
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    @asynccontextmanager
    async def session(self, rules: tuple[EgressRule, ...], owner: Identity) -> AsyncIterator[str]:
        """A proxy socket for one execution, owned by its user; closed with everything
        still connected through it when the execution ends."""
        path = os.path.join(self.socket_dir, f"{next(self._numbers)}.sock")
        running: set[asyncio.Task[None]] = set()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            running.add(task)
            try:
                await self._serve(reader, writer, rules)
            finally:
                running.discard(task)
                writer.close()

        server = await asyncio.start_unix_server(handle, path, limit=HEAD_LIMIT)
        try:
            os.chown(path, owner.uid, owner.gid)
            os.chmod(path, 0o600)
            yield path
        finally:
            server.close()
            for task in running:
                task.cancel()
            with contextlib.suppress(OSError):
                os.unlink(path)

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        rules: tuple[EgressRule, ...],
    ) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_SECONDS)
            target = parse_head(head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            return await answer(writer, 400, "unreadable proxy request")
        except ValueError as exc:
            return await answer(writer, 400, str(exc))
        address, reason = await self._decide(target, rules)
        if address is None:
            record("refused", reason, target)
            return await answer(writer, 403, f"egress to {target} refused: {reason}")
        try:
            upstream = await asyncio.wait_for(
                asyncio.open_connection(address, target.port), CONNECT_TIMEOUT_SECONDS
            )
        except (OSError, TimeoutError) as exc:
            record("failed", "unreachable", target, address)
            return await answer(writer, 502, f"{target} unreachable: {type(exc).__name__}")
        record("allowed", reason, target, address)
        await self._relay(reader, writer, target, *upstream)

    async def _decide(
        self, target: ProxyTarget, rules: tuple[EgressRule, ...]
    ) -> tuple[str | None, str]:
        """The address to connect to, or None and why not."""
        if not allowed(rules, target.host, target.port):
            return None, "not in the allowlist"
        if target.host in self.test_hosts:
            return self.test_hosts[target.host], "test host mapping"
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                target.host, target.port, type=socket.SOCK_STREAM
            )
        except OSError:
            return None, "name does not resolve"
        addresses = [str(info[4][0]) for info in infos]
        refusals = [address_refusal(address, self.own) for address in addresses]
        permitted = [a for a, refusal in zip(addresses, refusals, strict=True) if refusal is None]
        if not permitted:
            return None, next((r for r in refusals if r), "no address")
        return permitted[0], "allowlist"

    async def _relay(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        target: ProxyTarget,
        upstream_reader: asyncio.StreamReader,
        upstream_writer: asyncio.StreamWriter,
    ) -> None:
        if target.forward_head:
            upstream_writer.write(target.forward_head)
        else:
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        try:
            await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        finally:
            upstream_writer.close()


async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while chunk := await source.read(CHUNK):
            sink.write(chunk)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()


async def answer(writer: asyncio.StreamWriter, status: int, message: str) -> None:
    reasons = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}
    body = (message + "\n").encode()
    writer.write(
        f"HTTP/1.1 {status} {reasons[status]}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    with contextlib.suppress(ConnectionError, OSError):
        await writer.drain()


def record(decision: str, reason: str, target: ProxyTarget, address: str = "") -> None:
    EGRESS_DECISIONS.labels(decision=decision, reason=reason).inc()
    log.info(
        f"egress_{decision}", host=target.host, port=target.port, address=address, reason=reason
    )


def remove_stale_socket_dirs() -> None:
    for path in Path(tempfile.gettempdir()).glob(f"{SOCKET_DIR_PREFIX}*-*"):
        pid = path.name.removeprefix(SOCKET_DIR_PREFIX).split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(path, ignore_errors=True)
