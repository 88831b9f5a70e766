"""The namespace and knowledge bases a request asks its RAG context to come from (optional
fields of the /plan and POST /runs body); a run keeps its choice when it is resumed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.kit.knowledge_bases import NAMESPACE_RULE, PLANNER_KNOWLEDGE_BASES, valid_name


class InvalidKnowledgeChoice(ValueError):
    """The namespace or knowledge_bases field is unusable; the message names the field."""


@dataclass(frozen=True)
class KnowledgeChoice:
    namespace: str = ""  # "" = the plain collections
    knowledge_bases: tuple[str, ...] = ()  # () = the planner's default set

    @property
    def chosen(self) -> bool:
        return bool(self.namespace or self.knowledge_bases)

    def searched(self, default: tuple[str, ...]) -> tuple[str, ...]:
        return self.knowledge_bases or default

    def to_text(self) -> str:
        return json.dumps(list(self.knowledge_bases))

    @classmethod
    def stored(cls, namespace: str | None, knowledge_bases: str | None) -> KnowledgeChoice:
        """From the run's stored row (both None for a run that made no choice)."""
        return cls(namespace or "", tuple(json.loads(knowledge_bases or "[]")))

    @classmethod
    def from_request(cls, namespace: Any, knowledge_bases: Any) -> KnowledgeChoice:
        return cls(_namespace(namespace), _knowledge_bases(knowledge_bases))


NO_CHOICE = KnowledgeChoice()


def _namespace(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidKnowledgeChoice("namespace: must be a string")
    namespace = value.strip()
    if namespace and not valid_name(namespace):
        raise InvalidKnowledgeChoice(f"namespace: {NAMESPACE_RULE}")
    return namespace


def _knowledge_bases(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise InvalidKnowledgeChoice("knowledge_bases: must be a list of knowledge base names")
    unknown = [name for name in value if name not in PLANNER_KNOWLEDGE_BASES]
    if unknown:
        known = ", ".join(PLANNER_KNOWLEDGE_BASES)
        raise InvalidKnowledgeChoice(
            f"knowledge_bases: unknown knowledge base {unknown[0]!r} (known: {known})"
        )
    return tuple(dict.fromkeys(value))  # in the order asked, each once
