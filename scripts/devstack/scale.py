"""The `scale` profile: several planner and memory replicas sharing PostgreSQL, Redis and a
Chroma server, behind nginx on the usual public ports. PostgreSQL (a throwaway cluster made
with initdb, run as the unprivileged `postgres` user when started by root) and Chroma are
started here unless DATABASE_URL or CHROMA_HOST point at running ones."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from scripts.devstack.console import Console
from scripts.devstack.environment import port_from
from scripts.devstack.errors import RunnerError
from scripts.devstack.probes import HttpReadiness, http_health, port_in_use
from scripts.devstack.service import Service

SCALE_DIR = Path("data") / "scale"
POSTGRES_PORT = 5432
CHROMA_PORT = 8000
# Replica n of a service listens on its public port + n * PORT_STEP (8585 -> 8595, 8605 ...).
PORT_STEP = 10


def as_postgres_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def postgres_tool(name: str) -> str:
    for directory in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (directory / name).exists():
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        raise RunnerError(
            f"{name} not found: install PostgreSQL (Debian: apt-get install postgresql) "
            "or set DATABASE_URL to a running server"
        )
    return found


def postgres_service(env: dict[str, str], console: Console) -> Service | None:
    """None when DATABASE_URL is set; else a local cluster under data/scale/postgres."""
    if env.get("DATABASE_URL", "").strip():
        console.note("using the PostgreSQL at DATABASE_URL")
        return None
    root = (SCALE_DIR / "postgres").resolve()
    data = root / "data"
    if not (data / "PG_VERSION").exists():
        initdb_cluster(root, data)
        console.note(f"created a PostgreSQL cluster in {data}")
    env["DATABASE_URL"] = f"postgresql://pagi@127.0.0.1:{POSTGRES_PORT}/postgres"
    argv = as_postgres_user(
        [
            postgres_tool("postgres"),
            "-D",
            str(data),
            "-p",
            str(POSTGRES_PORT),
            "-k",
            str(root),
            "-c",
            "listen_addresses=127.0.0.1",
        ]
    )
    return Service(
        "postgres",
        argv,
        {"POSTGRES_PORT": POSTGRES_PORT},
        dict(env),
        lambda: port_in_use(POSTGRES_PORT),
    )


def initdb_cluster(root: Path, data: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    done = subprocess.run(
        as_postgres_user(
            [postgres_tool("initdb"), "-D", str(data), "-U", "pagi", "--auth=trust", "-E", "UTF8"]
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RunnerError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")


def chroma_service(env: dict[str, str], console: Console) -> Service | None:
    """None when CHROMA_HOST is set; else `chroma run` on data/scale/chroma."""
    if env.get("CHROMA_HOST", "").strip():
        console.note("using the Chroma server at CHROMA_HOST")
        return None
    binary = Path(sys.executable).with_name("chroma")
    port = port_from(env, "CHROMA_PORT", default=CHROMA_PORT)
    env["CHROMA_HOST"], env["CHROMA_PORT"] = "127.0.0.1", str(port)
    argv = [
        str(binary),
        "run",
        "--path",
        str(SCALE_DIR / "chroma"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return Service(
        "chroma", argv, {"CHROMA_PORT": port}, dict(env), http_health(port, "/api/v2/heartbeat")
    )


def replicas(service: Service, count: int) -> list[Service]:
    """`count` copies of a planned service, each on its own ports (public + n * PORT_STEP)."""
    copies = []
    probe = service.ready_check
    path = urlsplit(probe.url).path if isinstance(probe, HttpReadiness) else "/health"
    for n in range(1, count + 1):
        ports = {name: port + n * PORT_STEP for name, port in service.ports.items()}
        env = {**service.env, **{name: str(port) for name, port in ports.items()}}
        copies.append(
            replace(
                service,
                name=f"{service.name}-{n}",
                ports=ports,
                env=env,
                ready_check=(check := http_health(next(iter(ports.values())), path)),
                progress=check.progress,
                replica_of=service.name,
            )
        )
    return copies


def scale_out(planned: list[Service], counts: dict[str, int]) -> list[Service]:
    """Replace each counted service by its replicas (and every mention of its name by theirs),
    then put nginx in front of them on the public ports."""
    names: dict[str, tuple[str, ...]] = {}
    result: list[Service] = []
    fronted: list[tuple[Service, list[Service]]] = []
    for service in planned:
        count = counts.get(service.name, 0)
        if not count:
            result.append(service)
            continue
        copies = replicas(service, count)
        names[service.name] = tuple(copy.name for copy in copies)
        fronted.append((service, copies))
        result.extend(copies)
    for service in result:
        # Whoever talks to a fronted service reaches it through nginx.
        if names.keys() & {*service.after, *service.calls}:
            service.after = (*service.after, "nginx")
        service.after = expand(service.after, names)
        service.calls = expand(service.calls, names)
        if service.name.startswith(("planner-", "memory-")):
            service.after = (*service.after, "postgres")
        if service.name.startswith("memory-"):
            service.after = (*service.after, "chroma")
    for copy in [c for _, copies in fronted for c in copies if c.name.startswith("memory-")][1:]:
        copy.env["MEMORY_INGEST_ON_START"] = "false"  # the first replica ingests for all
    result.append(nginx_service(fronted, next(iter(result)).env))
    return result


def expand(names: tuple[str, ...], replaced: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(n for name in names for n in replaced.get(name, (name,)))


def nginx_service(fronted: list[tuple[Service, list[Service]]], env: dict[str, str]) -> Service:
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        raise RunnerError("nginx not found: install it (Debian: apt-get install nginx)")
    prefix = (SCALE_DIR / "nginx").resolve()
    (prefix / "temp").mkdir(parents=True, exist_ok=True)
    (prefix / "temp").chmod(0o777)  # nginx workers run as an unprivileged user
    config = prefix / "nginx.conf"
    config.write_text(nginx_config(fronted, prefix), encoding="utf-8")
    public = {name: port for base, _ in fronted for name, port in base.ports.items()}
    members = [copy.name for _, copies in fronted for copy in copies]
    argv = [binary, "-p", str(prefix), "-c", str(config), "-g", "daemon off;"]
    # Up once memory is (the gateway and planners reach it through nginx); ready when a
    # port answers, since a planner behind it starts later.
    first = next(iter(public.values()))
    return Service(
        "nginx",
        argv,
        public,
        dict(env),
        lambda: port_in_use(first),
        after=tuple(m for m in members if m.startswith("memory-")),
        calls=tuple(m for m in members if not m.startswith("memory-")),
    )


def nginx_config(fronted: list[tuple[Service, list[Service]]], prefix: Path) -> str:
    upstreams, servers = [], []
    for base, copies in fronted:
        for name, port in base.ports.items():
            upstream = f"{base.name}_{name.lower()}"
            members = "".join(f"        server 127.0.0.1:{c.ports[name]};\n" for c in copies)
            block = f"    upstream {upstream} {{\n{members}        keepalive 32;\n    }}\n"
            upstreams.append(block)
            servers.append(server_block(port, upstream, grpc=name.endswith("GRPC_PORT")))
    temp = prefix / "temp"
    return (
        f"worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n    access_log off;\n    client_max_body_size 8m;\n"
        f"    client_body_temp_path {temp}/body;\n    proxy_temp_path {temp}/proxy;\n"
        f"    fastcgi_temp_path {temp}/fastcgi;\n    uwsgi_temp_path {temp}/uwsgi;\n"
        f"    scgi_temp_path {temp}/scgi;\n" + "".join(upstreams) + "".join(servers) + "}\n"
    )


def server_block(port: int, upstream: str, grpc: bool) -> str:
    if grpc:
        return (
            f"    server {{\n        listen 127.0.0.1:{port} http2;\n"
            f"        location / {{ grpc_pass grpc://{upstream}; grpc_read_timeout 300s; }}\n"
            "    }\n"
        )
    # Streams (SSE) pass through unbuffered; a run's stream may stay open for long.
    return (
        f"    server {{\n        listen 127.0.0.1:{port};\n        location / {{\n"
        f"            proxy_pass http://{upstream};\n            proxy_http_version 1.1;\n"
        '            proxy_set_header Connection "";\n            proxy_set_header Host $host;\n'
        "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "            proxy_buffering off;\n            proxy_read_timeout 3600s;\n"
        "        }\n    }\n"
    )
