"""Errors that stop a service at start-up with a message for the operator."""


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable."""


class StartupError(Exception):
    """The service could not start (a port is taken, a dependency cannot be opened)."""


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or refused a statement; HTTP answers 503."""
