"""Errors the whole system shares, so entry points can turn them into clear answers."""


class InfrastructureUnavailable(RuntimeError):
    """Kafka or PostgreSQL does not answer; the message names which one and where."""
