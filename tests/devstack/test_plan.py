"""The runner's plan without starting anything: ports from the services' own settings,
client addresses pointed at them, and a stop order derived from the declared dependencies."""

from __future__ import annotations

import pytest

from scripts.devstack.catalogue import CATALOGUE, PROFILES
from scripts.devstack.errors import RunnerError
from scripts.devstack.plan import link_addresses, python_service, read_ports, stop_tiers
from scripts.devstack.service import Service


def planned(profile: str, env: dict[str, str] | None = None) -> list[Service]:
    env = dict(env or {})
    ports = read_ports(env)
    return [python_service(CATALOGUE[name], env, ports) for name in PROFILES[profile].services]


def test_ports_default_to_what_each_service_listens_on() -> None:
    assert read_ports({}) == {
        "MEMORY_PORT": 8003,
        "MEMORY_GRPC_PORT": 50052,
        "RUST_SANDBOX_PORT": 8001,
        "RUST_SANDBOX_GRPC_PORT": 50053,
        "MODEL_GATEWAY_GRPC_PORT": 50051,
        "MODEL_GATEWAY_HTTP_PORT": 8005,
        "AGENT_PLANNER_PORT": 8585,
        "PY_AGENT_PORT": 8000,
        "GO_BFF_PORT": 8002,
    }


def test_a_port_set_under_a_settings_alias_is_honoured() -> None:
    ports = read_ports({"SANDBOX_PORT": "9001", "SANDBOX_GRPC_PORT": "59053"})
    assert ports["RUST_SANDBOX_PORT"] == 9001
    assert ports["RUST_SANDBOX_GRPC_PORT"] == 59053
    # The main name wins over the alias, as in the sandbox's settings.
    assert (
        read_ports({"RUST_SANDBOX_PORT": "9002", "SANDBOX_PORT": "9001"})["RUST_SANDBOX_PORT"]
        == 9002
    )


def test_a_bad_port_names_the_variable() -> None:
    with pytest.raises(RunnerError, match=r"MEMORY_GRPC_PORT must be a port number .*'70000'"):
        read_ports({"MEMORY_GRPC_PORT": "70000"})


def test_clients_point_at_the_chosen_ports_unless_set() -> None:
    env = {"MEMORY_GRPC_PORT": "6100", "MEMORY_URL": "http://memory.internal:8003"}
    link_addresses(env, read_ports(env))
    assert env["MEMORY_GRPC_ADDR"] == "localhost:6100"
    assert env["RAG_GRPC_ADDR"] == "localhost:6100"
    assert env["MEMORY_URL"] == "http://memory.internal:8003"
    assert env["MODEL_GATEWAY_ADDR"] == "localhost:50051"
    assert env["RUST_SANDBOX_URL"] == "http://localhost:8001"
    assert env["GO_BFF_URL"] == "http://localhost:8002"


def test_core_stops_its_callers_before_what_they_call() -> None:
    redis = Service("redis", ["redis-server"], {}, {})
    assert stop_tiers([redis, *planned("core")]) == [
        ["planner", "notifier"],
        ["redis", "sandbox", "gateway"],
        ["memory"],
    ]


def test_legacy_stops_the_bff_first_and_memory_last() -> None:
    assert stop_tiers(planned("legacy")) == [
        ["bff"],
        ["demo_agent"],
        ["sandbox", "gateway"],
        ["memory"],
    ]


def test_a_dependency_cycle_stops_together() -> None:
    first = Service("first", [], {}, {}, calls=("second",))
    second = Service("second", [], {}, {}, after=("first",))
    assert stop_tiers([first, second]) == [["first", "second"]]
