"""Errors the whole system shares, so entry points can turn them into clear answers."""

from __future__ import annotations

from aiokafka.errors import KafkaConnectionError
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

# The errors that mean the database or the broker is not answering: a message waits for them
# (never dead-lettered), a request is answered 503.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    ConnectionError,
    KafkaConnectionError,
    TimeoutError,
    OSError,
)


class InfrastructureUnavailable(RuntimeError):
    """Kafka or PostgreSQL does not answer; the message names which one and where."""


class ConfigurationError(ValueError):
    """A setting or configuration file is invalid; the message names which and why."""
