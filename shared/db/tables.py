"""The tables every service's schema has: the transactional outbox and the processed-event log."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID


def outbox_table(metadata: MetaData, *, lanes: bool = True) -> Table:
    """Debezium's outbox row shape: the aggregate id is the Kafka key, the type a header.

    `seq` gives the publishing order; a partial index keeps the relay's scan cheap however
    large the table of published rows grows.

    `urgent` (since the messaging tables' version 2; `lanes=False` is version 1): a row the urgent
    lane's relay publishes — an emergency's events, and the rows of the same case still pending
    before them (shared/messaging/outbox.py `LaneOutbox`). Its own small partial index finds them.
    """
    columns = [Column("urgent", Boolean, nullable=False, server_default="false")] if lanes else []
    table = Table(
        "outbox",
        metadata,
        Column("event_id", UUID(as_uuid=True), primary_key=True),
        Column("seq", BigInteger, Identity(always=True), nullable=False, unique=True),
        Column("aggregate_type", Text, nullable=False, server_default="case"),
        Column("aggregate_id", Text, nullable=False),
        Column("topic", Text, nullable=False),
        Column("event_type", Text, nullable=False),
        Column("schema_version", Integer, nullable=False),
        Column("payload", Text, nullable=False),
        Column("traceparent", Text),
        Column("tracestate", Text),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        *columns,
    )
    Index("outbox_pending", table.c.seq, postgresql_where=text("published_at IS NULL"))
    if lanes:
        Index(
            "outbox_urgent_pending",
            table.c.aggregate_id,
            table.c.created_at,
            postgresql_where=text("urgent AND published_at IS NULL"),
        )
    return table


def processed_events_table(metadata: MetaData) -> Table:
    """One row per (consumer, event id) whose effect has committed: the idempotency record."""
    return Table(
        "processed_events",
        metadata,
        Column("consumer", Text, primary_key=True),
        Column("event_id", Text, primary_key=True),
        Column("topic", Text, nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def messaging_metadata(schema: str, *, lanes: bool = True) -> MetaData:
    metadata = MetaData(schema=schema)
    outbox_table(metadata, lanes=lanes)
    processed_events_table(metadata)
    return metadata
