"""Errors the whole system shares, so entry points can turn them into clear answers."""


class InfrastructureUnavailable(RuntimeError):
    """Kafka or PostgreSQL does not answer; the message names which one and where."""


class ConfigurationError(ValueError):
    """A setting or configuration file is invalid; the message names which and why."""
