"""The memory service's domain errors; http.py and grpc.py map them to status codes."""


class InvalidRequest(ValueError):
    """The caller sent something the service refuses; the message names the field."""


class DependencyUnavailable(RuntimeError):
    """Chroma or SQLite cannot be reached; the message names which."""
