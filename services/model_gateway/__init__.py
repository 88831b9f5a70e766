"""The model gateway: turns planner input into a strict-JSON plan or tool call, using a
deterministic mock or an OpenAI-compatible provider, with best-effort RAG from memory."""
