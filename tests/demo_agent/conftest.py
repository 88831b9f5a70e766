"""Demo agent fixtures: the whole real legacy stack, shared by the session."""

from tests.support.legacy_services import legacy_stack

__all__ = ["legacy_stack"]
