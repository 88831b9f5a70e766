"""What a profile runs: the services with their ports, environment and health checks, the
infrastructure they need, and the order to stop them in."""

from __future__ import annotations

import sys

from scripts.devstack.catalogue import CATALOGUE, PROFILES, Listener, ServiceSpec
from scripts.devstack.console import Console
from scripts.devstack.environment import setting_names, setting_port, stack_environment
from scripts.devstack.errors import RunnerError
from scripts.devstack.infrastructure import INFRASTRUCTURE, Unavailable
from scripts.devstack.probes import Check, HttpReadiness, grpc_health, http_health, port_in_use
from scripts.devstack.scale import scale_out
from scripts.devstack.service import Service


def read_ports(env: dict[str, str]) -> dict[str, int]:
    """Every catalogued service's ports, by the main variable name of each."""
    return {
        port_variable(spec, listener): setting_port(env, spec.settings, listener.field)
        for spec in CATALOGUE.values()
        for listener in spec.listeners
    }


def link_addresses(env: dict[str, str], ports: dict[str, int]) -> None:
    """Point every client at the ports chosen for its server, unless set explicitly."""
    for spec in CATALOGUE.values():
        for listener in spec.listeners:
            address = listener.address(ports[port_variable(spec, listener)])
            for name in listener.clients:
                if not env.get(name, "").strip():
                    env[name] = address


def port_variable(spec: ServiceSpec, listener: Listener) -> str:
    """The main name of the variable a listener's port is read from."""
    return setting_names(spec.settings, listener.field)[0]


def ready_check(spec: ServiceSpec, env: dict[str, str], ports: dict[str, int]) -> Check | None:
    for listener in spec.listeners:
        if listener.field == spec.probe:
            port = ports[port_variable(spec, listener)]
            if listener.protocol == "http":
                return http_health(port, spec.probe_path)
            return grpc_health(port, env)
    return None


def python_service(spec: ServiceSpec, env: dict[str, str], ports: dict[str, int]) -> Service:
    own_env = dict(env)
    # Span names per service as in the compose stack, unless the user chose one.
    own_env.setdefault("OTEL_SERVICE_NAME", spec.trace_name)
    own_ports = {
        name: ports[name] for name in (port_variable(spec, item) for item in spec.listeners)
    }
    check = ready_check(spec, env, ports)
    return Service(
        spec.name,
        [sys.executable, "-m", f"services.{spec.module}"],
        own_ports,
        own_env,
        check,
        after=spec.after,
        calls=spec.calls,
        ready_marker=spec.ready_marker,
        progress=check.progress if isinstance(check, HttpReadiness) else None,
    )


def plan_services(profile_name: str, console: Console) -> list[Service]:
    """The processes to start for a profile, infrastructure first."""
    env = stack_environment()
    ports = read_ports(env)
    link_addresses(env, ports)
    profile = PROFILES[profile_name]
    started: list[Service] = []
    missing: set[str] = set()
    for name in profile.infrastructure:
        try:
            server = INFRASTRUCTURE[name](env, console)
        except Unavailable as exc:
            console.warn(str(exc))
            missing.add(name)
            continue
        if server is not None:
            started.append(server)
    for name in profile.services:
        spec = CATALOGUE[name]
        if not missing.intersection(spec.needs):
            started.append(python_service(spec, env, ports))
    return scale_out(started, dict(profile.replicas)) if profile.replicas else started


def check_ports_free(services: list[Service]) -> None:
    for service in services:
        for name, port in service.ports.items():
            if port_in_use(port):
                raise RunnerError(
                    f"port {port} ({name}, needed by {service.name}) is already in use by "
                    f"another process; stop it or choose another port with {name}=<port>"
                )


def stop_tiers(services: list[Service]) -> list[list[str]]:
    """Names in the order to stop them: a tier stops once every service that waits for or
    calls its members has stopped (a dependency cycle stops together)."""
    remaining = list(services)
    tiers: list[list[str]] = []
    while remaining:
        names = {service.name for service in remaining}
        needed = {dep for service in remaining for dep in service.depends_on if dep != service.name}
        tier = [s for s in remaining if s.name not in needed & names] or remaining
        tiers.append([service.name for service in tier])
        remaining = [service for service in remaining if service not in tier]
    return tiers
