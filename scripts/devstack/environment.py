"""The environment the services get, and the ports and addresses read from it.

Port defaults and their alternative names come from each service's Settings class, so the
runner never disagrees with the service about where it listens.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from scripts.devstack.errors import RunnerError
from services.kit.settings import ENV_FILE, read_env_file

REPO_ROOT = Path(__file__).resolve().parents[2]
# Where a generated INTERNAL_API_KEY is kept (owner-only) for calling services by hand.
INTERNAL_KEY_FILE = Path(".internal_api_key")
# glibc's malloc asks for transparent huge pages (where the kernel allows them on request):
# the embedding model's weights and the heaps then take far fewer TLB misses, about 5% less
# CPU per /plan over all services. The Dockerfile sets the same; other C libraries ignore it.
HUGE_PAGES = "glibc.malloc.hugetlb=1"


def stack_environment() -> dict[str, str]:
    """The environment every service gets: .env values, overridden by the real environment
    (.env read as the services' settings read it, so what the runner passes on as real
    environment is what a service would have read itself)."""
    env = read_env_file(Path(ENV_FILE))
    env.update(os.environ)
    env.setdefault("LLM_PROVIDER", "mock")
    env.setdefault("GLIBC_TUNABLES", HUGE_PAGES)
    if not env.get("INTERNAL_API_KEY", "").strip():
        env["INTERNAL_API_KEY"] = generated_internal_key()
    env["PYTHONUNBUFFERED"] = "1"
    paths = [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def generated_internal_key() -> str:
    """A fresh key for this run's internal calls, written to INTERNAL_KEY_FILE (mode 600)
    and never printed."""
    key = secrets.token_hex(32)
    INTERNAL_KEY_FILE.unlink(missing_ok=True)
    descriptor = os.open(INTERNAL_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    return key


def port_from(env: dict[str, str], *names: str, default: int) -> int:
    """The first of `names` that is set (aliases after the main name), else `default`."""
    for name in names:
        raw = env.get(name, "").strip()
        if raw:
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise RunnerError(f"{name} must be a port number 1-65535 (got {raw!r})")
            return int(raw)
    return default


def setting_names(settings: type[BaseSettings], field: str) -> tuple[str, ...]:
    """The variable names a Settings field is read from: its aliases, else the field name."""
    alias = settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(choice for choice in alias.choices if isinstance(choice, str))
    return (alias,) if isinstance(alias, str) else (field,)


def setting_default(settings: type[BaseSettings], field: str) -> str:
    """A Settings field's default, as the string a variable would hold."""
    return str(settings.model_fields[field].get_default(call_default_factory=True))


def setting_port(env: dict[str, str], settings: type[BaseSettings], field: str) -> int:
    """The port a service will listen on: what env sets under any of the field's names,
    else the field's default."""
    return port_from(
        env, *setting_names(settings, field), default=int(setting_default(settings, field))
    )


def split_redis_addr(addr: str) -> tuple[str, int]:
    """host and port of REDIS_ADDR (host:port or a redis:// URL)."""
    rest = addr.strip().split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, _, port = rest.rpartition(":")
    if not port.isdigit():
        raise RunnerError(f"REDIS_ADDR must be host:port (got {addr!r})")
    return host.strip("[]") or "localhost", int(port)
