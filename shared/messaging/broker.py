"""Builds the one FastStream Kafka broker of a process, with durable producer settings."""

from __future__ import annotations

import logging

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.security import BaseSecurity
from opentelemetry.sdk.trace import TracerProvider

from shared.telemetry import telemetry_middleware


def make_broker(
    bootstrap: str,
    *,
    client_id: str,
    tracer_provider: TracerProvider | None = None,
    security: BaseSecurity | None = None,
) -> KafkaBroker:
    """A broker whose producer never loses an acknowledged event.

    aiokafka defaults to acks=1 without idempotence: a leader failover could then drop or
    duplicate records. acks=all plus the idempotent producer keep each partition exact and
    ordered across retries. Consumers commit only after their handler succeeds (ACK policy
    set per subscriber in shared.messaging.consumer), never before. `security` is how it
    authenticates (shared.messaging.security.broker_security).
    """
    middlewares = (telemetry_middleware(tracer_provider),) if tracer_provider else ()
    return KafkaBroker(
        bootstrap,
        client_id=client_id,
        security=security,
        acks="all",
        enable_idempotence=True,
        # The outbox relay gathers its rounds itself and waits for each round's acks: a longer
        # linger would only delay every round; big batches carry a round in a few requests.
        linger_ms=1,
        max_batch_size=256 * 1024,
        # Topics come from the registry (cpnet topics create); a typo must fail, not create one.
        allow_auto_create_topics=False,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        middlewares=middlewares,
        graceful_timeout=15.0,
        # Per-message "Received"/"Processed" lines would flood the logs at thousands a second.
        log_level=logging.DEBUG,
        # A plain logger, so FastStream's lines reach the process's one handler (JSON, with
        # the outage filter) instead of a console handler of FastStream's own.
        logger=logging.getLogger("faststream.kafka"),
    )


def kafka_producer(broker: KafkaBroker):
    """The connected aiokafka producer under FastStream's broker (None before connect), for
    operations code and tests that check its durability settings."""
    state = getattr(broker, "_producer", None)
    real = getattr(state, "_producer", None)
    return getattr(real, "producer", None)
