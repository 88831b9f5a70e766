"""What the user sees: runner notes, each service's output prefixed with its name, and a
live status line when stdout is a terminal (plain lines otherwise)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TextIO

from scripts.devstack.service import Service

COLOURS = ("36", "32", "35", "33", "34", "96", "92")


class Console:
    """Prefixed service output plus a live status line when stdout is a terminal."""

    def __init__(self, stream: TextIO, quiet: bool) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.quiet = quiet
        self.lock = threading.Lock()
        self.status = ""
        self.width = len("demo_agent")  # the longest service name

    def _write(self, text: str) -> None:
        with self.lock:
            if self.live and self.status:
                self.stream.write("\r\033[2K")
            self.stream.write(text)
            if self.live and self.status:
                self.stream.write(self.status)
            self.stream.flush()

    def note(self, message: str) -> None:
        self._write(f"[runner] {message}\n")

    def warn(self, message: str) -> None:
        prefix = "\033[1;33m[runner] WARNING:\033[0m" if self.live else "[runner] WARNING:"
        self._write(f"{prefix} {message}\n")

    def service_line(self, index: int, name: str, line: str) -> None:
        if self.quiet:
            return
        label = name.ljust(self.width)
        if self.live:
            label = f"\033[{COLOURS[index % len(COLOURS)]}m{label}\033[0m"
        self._write(f"{label} | {line}\n")

    def show_status(self, text: str) -> None:
        if not self.live:
            return
        with self.lock:
            self.status = text
            self.stream.write("\r\033[2K" + text)
            self.stream.flush()

    def clear_status(self) -> None:
        if self.live and self.status:
            with self.lock:
                self.stream.write("\r\033[2K")
                self.stream.flush()
                self.status = ""


class LogFollower:
    """Copies new lines of every service's log file to the console."""

    def __init__(self, services: list[Service], console: Console) -> None:
        self.services = services
        self.console = console
        self.offsets: dict[str, int] = {}
        self.partial: dict[str, bytes] = {}

    def poll(self) -> None:
        for index, service in enumerate(self.services):
            if service.proc is None:
                continue
            for line in self._new_lines(service):
                self.console.service_line(index, service.name, line)

    def _new_lines(self, service: Service) -> list[str]:
        try:
            with service.log_path.open("rb") as handle:
                handle.seek(self.offsets.get(service.name, 0))
                chunk = handle.read(1 << 20)
        except OSError:
            return []
        self.offsets[service.name] = self.offsets.get(service.name, 0) + len(chunk)
        data = self.partial.pop(service.name, b"") + chunk
        *lines, rest = data.split(b"\n")
        if rest:
            self.partial[service.name] = rest
        return [line.decode("utf-8", "replace").rstrip("\r") for line in lines]


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def endpoint(variable: str, port: int) -> str:
    """How a user reaches a port: http://... for HTTP, host:port for gRPC and Redis."""
    if variable == "REDIS_ADDR":
        return f"redis localhost:{port}"
    if "GRPC" in variable:
        return f"grpc localhost:{port}"
    return f"http://localhost:{port}"


def status_line(services: list[Service], elapsed: float, now: float, width: int) -> str:
    """One line: what is ready, what is starting (for how long, how far), what waits."""
    groups: dict[str, list[str]] = {"ready": [], "starting": [], "waiting": []}
    for service in services:
        label = service.name
        if service.state == "starting":
            label += f" {now - service.started_at:.0f}s"
            if service.progress is not None and (progress := service.progress()):
                label += f" ({progress})"
        groups.setdefault(service.state, []).append(label)
    parts = [f"{state}: {', '.join(names)}" for state, names in groups.items() if names]
    line = f"[{elapsed:5.1f}s] " + " | ".join(parts)
    return line if len(line) <= width else line[: max(width - 3, 10)] + "..."
