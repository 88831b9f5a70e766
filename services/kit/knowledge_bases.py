"""The knowledge bases by name, and which of them each caller searches."""

from __future__ import annotations

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
