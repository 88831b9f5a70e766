"""The sandbox's domain errors; grpc.py and http.py map them to status codes."""


class InvalidToolRequest(Exception):
    """The request itself is malformed (bad args_json, negative limits)."""


class SandboxBusy(Exception):
    """No execution slot became free within the request's timeout."""


class InvalidToolArgs(Exception):
    """A tool's arguments are wrong (missing query, code not a string); the call still
    answers, with status invalid_args, so the caller (often a model) can correct itself."""
