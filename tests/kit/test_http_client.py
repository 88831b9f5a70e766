"""ServiceHttpClient against a scripted HTTP/1.1 server on a loopback socket: what it sends,
kept and bounded connections, chunked and oversized replies, servers that close, stall or
answer garbage, https, and the timeout."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from services.kit.http_client import HttpCallFailed, ServiceHttpClient
from tests.support.processes import free_port


@dataclass
class ScriptedServer:
    """Answers by path: /echo (what it received, as JSON), /chunked, /big, /close (with
    Connection: close), /hang (never), /cut (half a reply, then closes), /garbage. A request
    with X-Drop-Kept: 1 that arrives on an already used connection is dropped unanswered."""

    port: int = 0
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    received: list[dict[str, object]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ")
                headers = {
                    k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:] if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if headers.get("x-drop-kept") == "1" and served:
                    return
                served += 1
                self.received.append(
                    {"method": method, "target": target, "headers": headers, "body": body.decode()}
                )
                if not await self.answer(target, writer, self.received[-1]):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self.open_now -= 1
            writer.close()

    async def answer(
        self, target: str, writer: asyncio.StreamWriter, seen: dict[str, object]
    ) -> bool:
        """Write the reply for target; False closes the connection."""
        path = target.partition("?")[0]
        if path == "/hang":
            await asyncio.sleep(30)
        if path == "/garbage":
            writer.write(b"NOT HTTP AT ALL\r\n\r\n")
            return False
        if path == "/cut":
            writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"half":')
            await writer.drain()
            return False
        if path == "/chunked":
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b'5\r\n{"a":\r\n3\r\n42}\r\n0\r\n\r\n'
            )
            return True
        if path == "/big":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000)
            return True
        payload = json.dumps(seen).encode()
        close = path == "/close"
        status = b"404 Not Found" if path == "/missing" else b"200 OK"
        writer.write(
            b"HTTP/1.1 "
            + status
            + b"\r\nContent-Type: application/json\r\n"
            + (b"Connection: close\r\n" if close else b"")
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
        return not close


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    scripted = ScriptedServer(port=free_port())
    listening = await asyncio.start_server(scripted.handle, "127.0.0.1", scripted.port)
    async with listening:
        yield scripted


def client_for(server: ScriptedServer, **options: object) -> ServiceHttpClient:
    base = options.pop("base", f"http://127.0.0.1:{server.port}")
    timeout = options.pop("timeout", 5.0)
    return ServiceHttpClient(str(base), float(str(timeout)), **options)  # type: ignore[arg-type]


async def test_sends_method_target_headers_and_json(server: ScriptedServer) -> None:
    client = client_for(
        server, base=f"http://127.0.0.1:{server.port}/api/", headers={"Authorization": "Bearer k"}
    )
    reply = await client.request(
        "POST",
        "/echo",
        params={"limit": 5, "q": "a b&c"},
        json={"text": "héllo"},
        headers={"X-Trace-ID": "t1"},
    )
    seen = json.loads(reply.body)
    assert reply.status == 200
    assert seen["method"] == "POST"
    assert seen["target"] == "/api/echo?limit=5&q=a+b%26c"
    assert seen["headers"]["host"] == f"127.0.0.1:{server.port}"
    assert seen["headers"]["authorization"] == "Bearer k"
    assert seen["headers"]["x-trace-id"] == "t1"
    assert seen["headers"]["content-type"] == "application/json"
    assert json.loads(seen["body"]) == {"text": "héllo"}
    got = json.loads((await client.request("GET", "/echo")).body)
    assert got["body"] == "" and "content-type" not in got["headers"]
    await client.close()


async def test_error_status_comes_back_as_a_reply(server: ScriptedServer) -> None:
    client = client_for(server)
    reply = await client.request("GET", "/missing")
    assert reply.status == 404 and json.loads(reply.body)["target"] == "/missing"
    await client.close()


async def test_keeps_one_connection_for_calls_in_turn(server: ScriptedServer) -> None:
    client = client_for(server)
    for _ in range(5):
        assert (await client.request("GET", "/echo")).status == 200
    assert server.connections == 1
    await client.close()


async def test_concurrent_calls_stay_within_the_pool(server: ScriptedServer) -> None:
    client = client_for(server, max_connections=3)
    replies = await asyncio.gather(
        *(client.request("POST", "/echo", json={"n": n}) for n in range(12))
    )
    bodies = sorted(json.loads(json.loads(r.body)["body"])["n"] for r in replies)
    assert bodies == list(range(12))
    assert server.most_open <= 3
    await client.close()


async def test_decodes_a_chunked_reply(server: ScriptedServer) -> None:
    client = client_for(server)
    assert json.loads((await client.request("GET", "/chunked")).body) == {"a": 42}
    assert (await client.request("GET", "/echo")).status == 200
    assert server.connections == 1
    await client.close()


async def test_refuses_a_reply_over_the_limit(server: ScriptedServer) -> None:
    client = client_for(server, max_reply_bytes=1000)
    with pytest.raises(HttpCallFailed, match="reply larger than 1000 bytes"):
        await client.request("GET", "/big")
    assert (await client.request("GET", "/echo")).status == 200
    assert server.connections == 2  # the oversized reply's connection was not kept
    await client.close()


async def test_connection_close_reply_is_not_reused(server: ScriptedServer) -> None:
    client = client_for(server)
    for _ in range(2):
        assert (await client.request("GET", "/close")).status == 200
    assert server.connections == 2
    await client.close()


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/cut", "connection closed before the reply was complete"),
        ("/garbage", "malformed reply"),
    ],
)
async def test_broken_replies_fail_with_their_reason(
    server: ScriptedServer, path: str, error: str
) -> None:
    client = client_for(server)
    with pytest.raises(HttpCallFailed, match=error):
        await client.request("GET", path)
    assert (await client.request("GET", "/echo")).status == 200
    await client.close()


async def test_a_read_dropped_on_a_kept_connection_is_sent_again(server: ScriptedServer) -> None:
    client = client_for(server, headers={"X-Drop-Kept": "1"})
    await client.request("GET", "/echo")
    reply = await client.request("GET", "/echo?again=1")
    assert json.loads(reply.body)["target"] == "/echo?again=1"
    assert server.connections == 2
    await client.close()


async def test_a_write_dropped_on_a_kept_connection_is_not_sent_again(
    server: ScriptedServer,
) -> None:
    client = client_for(server, headers={"X-Drop-Kept": "1"})
    await client.request("POST", "/echo", json={"first": True})
    with pytest.raises(HttpCallFailed, match="connection closed before the reply"):
        await client.request("POST", "/echo", json={"second": True})
    assert [r["body"] for r in server.received] == ['{"first":true}']
    await client.close()


async def test_a_connection_the_server_closed_is_not_reused(server: ScriptedServer) -> None:
    client = client_for(server)
    await client.request("GET", "/close")
    await asyncio.sleep(0.05)
    assert (await client.request("POST", "/echo", json={})).status == 200
    await client.close()


async def test_a_slow_server_times_out_and_its_connection_is_dropped(
    server: ScriptedServer,
) -> None:
    client = client_for(server, timeout=0.3)
    with pytest.raises(TimeoutError):
        await client.request("GET", "/hang")
    assert (await client.request("GET", "/echo")).status == 200
    assert server.connections == 2
    await client.close()


async def test_no_server_raises_oserror() -> None:
    client = ServiceHttpClient(f"http://127.0.0.1:{free_port()}", 5.0)
    with pytest.raises(OSError):
        await client.request("GET", "/echo")


def test_refuses_bad_urls_and_header_injection() -> None:
    with pytest.raises(ValueError, match="expected an http"):
        ServiceHttpClient("ftp://memory:21", 1.0)
    with pytest.raises(ValueError, match="line breaks"):
        ServiceHttpClient("http://memory:8003", 1.0, headers={"X-A": "b\r\nX-Evil: 1"})


async def test_https_with_the_servers_ca(server: ScriptedServer, certs: Path) -> None:
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(certs / "server.crt", certs / "server.key")
    port = free_port()
    async with await asyncio.start_server(server.handle, "127.0.0.1", port, ssl=served):
        trusted = ssl.create_default_context(cafile=str(certs / "ca.crt"))
        client = ServiceHttpClient(f"https://localhost:{port}", 5.0, ssl_context=trusted)
        assert json.loads((await client.request("GET", "/echo")).body)["method"] == "GET"
        await client.close()
        stranger = ServiceHttpClient(f"https://localhost:{port}", 5.0)
        with pytest.raises(ssl.SSLError):
            await stranger.request("GET", "/echo")
