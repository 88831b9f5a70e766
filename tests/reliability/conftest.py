"""One core stack for the reliability tests. Fault tests break a service and must put it
back (same ports) before they end, so later tests see a healthy stack again."""

from __future__ import annotations

import pytest

from tests.reliability.service_health import assert_stack_healthy
from tests.support.core_services import CoreStack, start_core_stack
from tests.support.spawning import Spawner


@pytest.fixture(scope="session")
def reliability_stack(
    session_spawn: Spawner, tmp_path_factory: pytest.TempPathFactory
) -> CoreStack:
    return start_core_stack(session_spawn, tmp_path_factory.mktemp("reliability-stack"))


@pytest.fixture
def stack(reliability_stack: CoreStack) -> CoreStack:
    """The reliability stack, checked healthy before the test uses it."""
    assert_stack_healthy(reliability_stack)
    return reliability_stack
