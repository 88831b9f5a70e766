"""Console fixtures: the shared full core stack."""

from tests.support.core_services import core_stack

__all__ = ["core_stack"]
