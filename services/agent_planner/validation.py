"""The /plan request body, parsed by hand so every error carries the exact SPEC message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.agent_planner.approval import ApprovalPolicy, InvalidApprovalPolicy
from services.agent_planner.knowledge_choice import (
    NO_CHOICE,
    InvalidKnowledgeChoice,
    KnowledgeChoice,
)
from services.kit.json_limits import JsonRefused, loads_bounded
from services.kit.wire_limits import MAX_SESSION_ID_CHARS

INVALID_BODY = "Invalid request body"
MISSING_FIELDS = "Prompt and session_id are required"


class InvalidRequestError(Exception):
    """The request body is unusable; the message is the one returned to the caller."""


@dataclass(frozen=True)
class Resource:
    type: str
    uri: str

    def as_json(self) -> dict[str, str]:
        return {"type": self.type, "uri": self.uri}


@dataclass(frozen=True)
class PlanRequest:
    prompt: str
    session_id: str
    resources: tuple[Resource, ...]
    approval: ApprovalPolicy = field(default_factory=ApprovalPolicy)  # asked for by the caller
    knowledge: KnowledgeChoice = NO_CHOICE  # where its RAG context comes from


def parse_plan_request(body: bytes) -> PlanRequest:
    """Decode and check a /plan body: types first, then required fields, then resources."""
    document = _decode(body)
    prompt = _optional_text(document.get("prompt"))
    session_id = _optional_text(document.get("session_id"))
    raw_resources = document.get("resources")
    if raw_resources is None:
        raw_resources = []
    if not isinstance(raw_resources, list):
        raise InvalidRequestError(INVALID_BODY)
    resources = [_resource_fields(item) for item in raw_resources]
    if not prompt.strip() or not session_id.strip():
        raise InvalidRequestError(MISSING_FIELDS)
    if len(session_id) > MAX_SESSION_ID_CHARS:
        raise InvalidRequestError(
            f"session_id: at most {MAX_SESSION_ID_CHARS} characters (got {len(session_id)})"
        )
    for index, (kind, uri) in enumerate(resources):
        if not kind.strip() or not uri.strip():
            raise InvalidRequestError(f"resources[{index}] must include non-empty type and uri")
    try:
        approval = ApprovalPolicy.from_request(document.get("approval"))
        knowledge = KnowledgeChoice.from_request(
            document.get("namespace"), document.get("knowledge_bases")
        )
    except (InvalidApprovalPolicy, InvalidKnowledgeChoice) as exc:
        raise InvalidRequestError(str(exc)) from None
    return PlanRequest(
        prompt, session_id, tuple(Resource(k, u) for k, u in resources), approval, knowledge
    )


def _decode(body: bytes) -> dict[str, Any]:
    try:
        document = loads_bounded(body)
    except JsonRefused as exc:
        raise InvalidRequestError(f"{INVALID_BODY}: {exc}") from None
    except ValueError:  # UnicodeDecodeError included
        raise InvalidRequestError(INVALID_BODY) from None
    if not isinstance(document, dict):
        raise InvalidRequestError(INVALID_BODY)
    return document


def _optional_text(value: Any) -> str:
    """A string field; absent or null reads as empty, any other type is a bad body."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRequestError(INVALID_BODY)
    return value


def _resource_fields(item: Any) -> tuple[str, str]:
    if not isinstance(item, dict):
        raise InvalidRequestError(INVALID_BODY)
    return _optional_text(item.get("type")), _optional_text(item.get("uri"))
