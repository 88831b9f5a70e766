"""The egress allowlist's grammar, its narrowing, and the addresses never reached."""

from __future__ import annotations

import ipaddress

import pytest

from services.sandbox.egress_rules import (
    address_refusal,
    allowed,
    narrowed,
    own_addresses,
    parse_allowlist,
)
from services.sandbox.errors import InvalidToolArgs
from services.sandbox.http_proxy_head import parse_head

RULES = parse_allowlist("pypi.org, *.example.com:443, files.host.test:8080")


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("pypi.org", 443, True),
        ("PyPI.org.", 80, True),
        ("pypi.org", 22, False),
        ("evil-pypi.org", 443, False),
        ("a.example.com", 443, True),
        ("a.b.example.com", 443, True),
        ("example.com", 443, False),
        ("a.example.com", 80, False),
        ("files.host.test", 8080, True),
    ],
)
def test_rules_match_hosts_and_ports(host: str, port: int, expected: bool) -> None:
    assert allowed(RULES, host, port) is expected


@pytest.mark.parametrize("entry", ["", "*", "a b", "host:0", "host:99999", "host:x", "*.*.a"])
def test_bad_entries_are_rejected(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_allowlist(f"pypi.org,{entry}" if entry else "x:,")


def test_a_request_narrows_and_cannot_widen() -> None:
    asked = ["pypi.org:443", "a.example.com", "*.example.com:443", "*.com", "other.org"]
    assert [str(rule) for rule in narrowed(RULES, {"egress_allow": asked})] == [
        "pypi.org:443",
        "*.example.com:443",
    ]
    assert narrowed(RULES, {}) == RULES
    with pytest.raises(InvalidToolArgs):
        narrowed(RULES, {"egress_allow": "pypi.org"})


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("fd00::1", "private"),
        ("224.0.0.251", "multicast"),
        ("100.64.0.1", "not a public address"),
        ("0.0.0.0", "private"),
        ("8.8.8.8", "own address"),
        ("1.1.1.1", None),
    ],
)
def test_forbidden_addresses(address: str, reason: str | None) -> None:
    own = frozenset({ipaddress.ip_address("8.8.8.8")})
    assert address_refusal(address, own) == reason


def test_own_addresses_include_loopback() -> None:
    assert ipaddress.ip_address("127.0.0.1") in own_addresses()


@pytest.mark.parametrize(
    ("head", "target"),
    [
        (b"CONNECT pypi.org:443 HTTP/1.1\r\nHost: pypi.org\r\n\r\n", "pypi.org:443"),
        (b"CONNECT [2001:db8::1]:443 HTTP/1.1\r\n\r\n", "2001:db8::1:443"),
        (b"GET http://Example.com/a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n", "example.com:80"),
    ],
)
def test_proxy_heads_name_their_target(head: bytes, target: str) -> None:
    assert str(parse_head(head)) == target


def test_plain_http_is_rewritten_for_the_origin() -> None:
    head = b"GET http://h.test:81/p?q=1 HTTP/1.1\r\nHost: h.test\r\nProxy-Authorization: x\r\n"
    head += b"Connection: keep-alive\r\n\r\n"
    forwarded = parse_head(head).forward_head.decode()
    assert forwarded == "GET /p?q=1 HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize(
    "head",
    [b"GET /relative HTTP/1.1\r\n\r\n", b"CONNECT pypi.org HTTP/1.1\r\n\r\n", b"nonsense\r\n\r\n"],
)
def test_unproxyable_heads_are_refused(head: bytes) -> None:
    with pytest.raises(ValueError):
        parse_head(head)
