"""SANDBOX_EGRESS=allowlist: programs reach exactly the allowed hosts through the service's
proxy (plain HTTP and CONNECT), never a private, loopback or link-local address even through
an allowed name, have no other way out and no DNS; a request may only narrow the list; every
decision is logged and counted. The allowed 'public' host is a loopback fake reached through
the proxy's test-only name mapping."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.sandbox.conftest import Sandbox, running_sandbox
from tests.support.logs import logged

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bwrap not installed")


class Upstream:
    """A loopback HTTP server that records each request's path and Host header."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append((self.path, self.headers.get("Host", "")))
                body = f"upstream saw {self.path}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    fake = Upstream()
    yield fake
    fake.server.shutdown()


@pytest.fixture(scope="module")
def egress(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    port = upstream.port
    allow = f"fake.test:{port},*.fake.test:{port},localhost:{port},169.254.169.254,10.0.0.1:80"
    with running_sandbox(
        tmp_path_factory.mktemp("egress"),
        SANDBOX_EGRESS="allowlist",
        SANDBOX_EGRESS_ALLOW=allow,
        SANDBOX_EGRESS_TEST_HOSTS="fake.test=127.0.0.1,api.fake.test=127.0.0.1,other.test=127.0.0.1",
    ) as service:
        yield service


# Fetches each URL through the proxy the environment names; prints status and body per URL.
FETCH = """
import json, sys, urllib.error, urllib.request
answers = {}
for url in URLS:
    try:
        with urllib.request.urlopen(url, timeout=20) as reply:
            answers[url] = [reply.status, reply.read().decode()]
    except urllib.error.HTTPError as exc:
        answers[url] = [exc.code, exc.read().decode()]
    except OSError as exc:
        answers[url] = [0, type(exc).__name__]
print(json.dumps(answers))
"""


def fetch(service: Sandbox, urls: list[str], **args: object) -> dict[str, list[object]]:
    code = f"URLS = {urls!r}\n{FETCH}"
    reply = service.tool("execute_code", {"language": "python", "code": code, **args})
    result = json.loads(reply.stdout)
    assert result["status"] == "ok", result
    answers: dict[str, list[object]] = json.loads(result["stdout"])
    return answers


def test_an_allowed_host_is_reached_over_plain_http(egress: Sandbox, upstream: Upstream) -> None:
    url = f"http://fake.test:{upstream.port}/hello?x=1"
    assert fetch(egress, [url])[url] == [200, "upstream saw /hello?x=1"]
    assert (("/hello?x=1", f"fake.test:{upstream.port}")) in upstream.seen


def test_an_allowed_host_is_reached_through_connect(egress: Sandbox, upstream: Upstream) -> None:
    code = (
        "import http.client\n"
        "conn = http.client.HTTPConnection('127.0.0.1', 3128, timeout=20)\n"
        f"conn.set_tunnel('api.fake.test', {upstream.port})\n"
        "conn.request('GET', '/through-tunnel')\n"
        "reply = conn.getresponse()\n"
        "print(reply.status, reply.read().decode())\n"
    )
    result = egress.run_code(code)
    assert result["stdout"] == "200 upstream saw /through-tunnel\n", result
    assert result["protections"]["network"].startswith("allowlist proxy: fake.test:")


def test_forbidden_addresses_are_refused_even_when_allowed(
    egress: Sandbox, upstream: Upstream
) -> None:
    cases = {
        f"http://localhost:{upstream.port}/x": "loopback",
        "http://169.254.169.254/latest/meta-data/": "link-local",
        "http://10.0.0.1/": "private",
        f"http://other.test:{upstream.port}/": "not in the allowlist",
        f"http://fake.test:{upstream.port + 1 if upstream.port < 65535 else 1}/": "allowlist",
    }
    answers = fetch(egress, list(cases))
    for url, reason in cases.items():
        status, body = answers[url]
        assert status == 403 and reason in str(body), (url, answers[url])
    assert all(path != "/x" for path, _ in upstream.seen)


def test_there_is_no_other_way_out_and_no_dns(egress: Sandbox, upstream: Upstream) -> None:
    code = (
        "import socket\n"
        f"for attempt in (lambda: socket.create_connection(('127.0.0.1', {upstream.port})),\n"
        "                lambda: socket.getaddrinfo('pypi.org', 443)):\n"
        "    try:\n"
        "        attempt()\n"
        "        print('reached')\n"
        "    except OSError as exc:\n"
        "        print(type(exc).__name__)\n"
    )
    result = egress.run_code(code)
    assert result["stdout"].splitlines() == ["ConnectionRefusedError", "gaierror"], result


def test_a_request_may_narrow_but_never_widen(egress: Sandbox, upstream: Upstream) -> None:
    allowed = f"http://fake.test:{upstream.port}/narrow"
    widened = f"http://other.test:{upstream.port}/wide"
    answers = fetch(
        egress,
        [allowed, widened],
        egress_allow=[f"other.test:{upstream.port}", f"fake.test:{upstream.port}"],
    )
    assert answers[allowed][0] == 200
    assert answers[widened][0] == 403
    narrowed = fetch(egress, [allowed], egress_allow=["api.fake.test:1"])
    assert narrowed[allowed][0] == 403


def test_a_malformed_egress_allow_is_invalid_args(egress: Sandbox) -> None:
    reply = egress.tool("execute_code", {"code": "print(1)", "egress_allow": "fake.test"})
    assert reply.status == "invalid_args"
    assert "egress_allow" in reply.stderr


def test_every_decision_is_logged_and_counted(egress: Sandbox, upstream: Upstream) -> None:
    fetch(egress, ["http://169.254.169.254/", f"http://fake.test:{upstream.port}/counted"])
    assert logged(egress.process, "egress_refused", reason="link-local")
    assert logged(egress.process, "egress_allowed")
    metrics = httpx.get(egress.url + "/metrics", timeout=5).text
    assert 'sandbox_egress_decisions_total{decision="refused",reason="link-local"}' in metrics
    assert 'sandbox_egress_decisions_total{decision="allowed",reason="test host mapping"}' in (
        metrics
    )
    health = httpx.get(egress.url + "/health", timeout=5).json()
    assert health["protections"]["network"].startswith("allowlist proxy: fake.test:")


def test_without_egress_there_is_no_proxy(sandbox: Sandbox) -> None:
    result = sandbox.run_code("import os\nprint(os.environ.get('HTTP_PROXY'))")
    assert result["stdout"] == "None\n"
    assert result["protections"]["network"] == "none"


def test_proxy_sockets_are_removed_at_shutdown_and_after_a_crash(tmp_path: Path) -> None:
    stale = Path(tempfile.gettempdir()) / "pagi-egress-4194304999-left"
    stale.mkdir(exist_ok=True)
    with running_sandbox(tmp_path, SANDBOX_EGRESS="allowlist") as service:
        assert service.run_code("print(1)")["status"] == "ok"
        mine = list(Path(tempfile.gettempdir()).glob(f"pagi-egress-{service.process.pid}-*"))
        assert len(mine) == 1
        assert not stale.exists()
    assert not mine[0].exists()


@pytest.mark.skipif(shutil.which("javac") is None, reason="javac not installed")
def test_java_programs_use_the_proxy_too(egress: Sandbox, upstream: Upstream) -> None:
    url = f"http://fake.test:{upstream.port}/from-java"
    code = (
        "import java.net.*; import java.io.*;\n"
        "public class Tool { public static void main(String[] a) throws Exception {\n"
        f'  var c = (HttpURLConnection) new URL("{url}").openConnection();\n'
        '  System.out.println(c.getResponseCode() + " " +\n'
        "    new String(c.getInputStream().readAllBytes()));\n"
        "} }\n"
    )
    result = egress.run_code(code, language="java")
    assert result["stdout"] == "200 upstream saw /from-java\n", result
