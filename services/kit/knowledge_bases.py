"""The knowledge bases by name, and which of them each caller searches."""

from __future__ import annotations

import re

MIND_KB = "Mind-KB"  # playbooks: the steps of successful runs
DOMAIN_KB = "Domain-KB"
BODY_KB = "Body-KB"
SOUL_KB = "Soul-KB"

STANDARD_KNOWLEDGE_BASES = (MIND_KB, DOMAIN_KB, BODY_KB, SOUL_KB)
# The planner's RAG context for every prompt.
PLANNER_KNOWLEDGE_BASES = STANDARD_KNOWLEDGE_BASES
# The gateway's preamble in prompts to a real model.
PREAMBLE_KNOWLEDGE_BASES = (DOMAIN_KB, BODY_KB, SOUL_KB)
# What memory searches when a request names no knowledge base.
DEFAULT_QUERY_KNOWLEDGE_BASES = (BODY_KB,)

# A namespace or collection name: Chroma's rules (3-63 safe characters) minus the dot,
# which separates the namespace from the KB in "<namespace>.<KB>".
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,60}[A-Za-z0-9]$")
NAMESPACE_RULE = "use 3-62 letters, digits, '_' or '-', starting and ending alphanumeric"


def valid_name(name: str) -> bool:
    return bool(NAME_PATTERN.match(name))
