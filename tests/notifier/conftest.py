"""Notifier fixtures: the shared core stack, for tests that need a real planner."""

from __future__ import annotations

from tests.support.core_services import core_stack

__all__ = ["core_stack"]
