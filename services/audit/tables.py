"""Audit's own tables (schema `audit`): the append-only, hash-chained ledger and its signed
Merkle checkpoints."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

SCHEMA = "audit"
metadata = MetaData(schema=SCHEMA)

ledger = Table(
    "ledger",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("event_key", Text, nullable=False, unique=True),  # the event id (or topic/partition/offset)
    Column("case_id", UUID(as_uuid=True), index=True),
    Column("event_type", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("occurred_at", Text),
    Column("record", JSONB, nullable=False),  # exactly what the hash covers
    Column("prev_hash", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
# The access log across children, newest first (audit_0005; its reader and territory indexes are
# expressions over the payload, created by that migration alone).
Index("ledger_access_seq", ledger.c.seq, postgresql_where=text("event_type = 'access.recorded'"))
# An identification is keyed by the case it merged away; the case that remains finds it by the payload's
# `surviving_case_id` (an expression index of audit_0006 alone).
LINK_EVENTS = ("child.linked", "child.link_undone")

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True),
    Column("root", LargeBinary, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("signature", LargeBinary, nullable=False),
)

DOMAIN_TABLES = (ledger, checkpoints)
