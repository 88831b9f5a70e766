"""Tool sandbox: runs catalogue tools (web search, code execution, a weather demo) behind
gRPC ToolService and an HTTP API, with every execution isolated and resource-limited."""
