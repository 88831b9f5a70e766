"""The runner's own errors."""

from __future__ import annotations


class RunnerError(Exception):
    """A problem the user must fix; the message says what and how."""


class StopRequested(Exception):
    """Ctrl-C, SIGTERM or SIGHUP arrived while the stack was starting."""
