"""The /plan request body, parsed by hand so every error carries the exact SPEC message.
A malformed body also names what is wrong with it, in a `detail` beside that message."""

from __future__ import annotations

import json
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
    """The request body is unusable; the message is the one returned to the caller, and
    `detail` (when given) what exactly is wrong."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


def malformed(detail: str) -> InvalidRequestError:
    return InvalidRequestError(INVALID_BODY, detail)


JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type."""
    return JSON_TYPES.get(type(value), "number")


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
    prompt = _optional_text(document.get("prompt"), "prompt")
    session_id = _optional_text(document.get("session_id"), "session_id")
    raw_resources = document.get("resources")
    if raw_resources is None:
        raw_resources = []
    if not isinstance(raw_resources, list):
        raise malformed(f"resources must be an array, got {json_type(raw_resources)}")
    resources = [_resource_fields(item, index) for index, item in enumerate(raw_resources)]
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
    except UnicodeDecodeError as exc:
        raise malformed(f"not text: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        if not body.strip():
            raise malformed("the body is empty") from None
        raise malformed(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:
        raise malformed(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise malformed(f"the body must be a JSON object, got {json_type(document)}")
    return document


def _optional_text(value: Any, name: str) -> str:
    """A string field; absent or null reads as empty, any other type is a bad body."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise malformed(f"{name} must be a string, got {json_type(value)}")
    return value


def _resource_fields(item: Any, index: int) -> tuple[str, str]:
    name = f"resources[{index}]"
    if not isinstance(item, dict):
        raise malformed(f"{name} must be an object, got {json_type(item)}")
    kind = _optional_text(item.get("type"), f"{name}.type")
    return kind, _optional_text(item.get("uri"), f"{name}.uri")
