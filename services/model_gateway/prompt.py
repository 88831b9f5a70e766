"""The messages sent to a real model: the system rules with the tool catalogue, and the user
message with the optional knowledge-base preamble and resource references."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from services.contracts import modelgateway_pb2 as pb
from services.kit.planner_text import rag_entries
from services.kit.tool_catalogue import catalogue_json

RAG_PREAMBLE = "The following information is retrieved from the knowledge base:"

SYSTEM_RULES = """You are a planning assistant for an agent that can call tools.
Reply with STRICT JSON only: one JSON object, no prose, no Markdown fences.
To call a tool, reply exactly {"tool": {"name": "<tool name>", "args": {...}}}
with args matching the tool's parameters.
To give the plan or final answer, reply {"steps": ["<step 1>", "<step 2>", ...]}
with at least one non-empty step.
Only call the tools listed in the available_tools block below."""


@functools.cache
def system_message() -> str:
    """The same text on every call (built once: the catalogue does not change)."""
    return f"{SYSTEM_RULES}\n\n<available_tools>\n{catalogue_json()}\n</available_tools>"


def user_message(
    prompt: str, matches: Sequence[pb.RAGMatch], resources: Sequence[pb.Resource]
) -> str:
    parts = [rag_preamble(matches)] if matches else []
    parts.append(prompt)
    if resources:
        parts.append(resource_references(resources))
    return "\n\n".join(parts)


def rag_preamble(matches: Sequence[pb.RAGMatch]) -> str:
    return f"{RAG_PREAMBLE}\n<context>\n{rag_entries(matches)}</context>"


def resource_references(resources: Sequence[pb.Resource]) -> str:
    lines = "".join(f"- {r.type}: {r.uri}\n" for r in resources)
    return f"<resources>\nThe user attached these resources (references only):\n{lines}</resources>"


def chat_messages(user_text: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system_message()},
        {"role": "user", "content": user_text},
    ]
