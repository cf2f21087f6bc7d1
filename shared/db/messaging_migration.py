"""Version 1 of the messaging tables (outbox, processed_events) for a service's first migration."""

from __future__ import annotations

from alembic import op

from shared.db.tables import messaging_metadata


def create_messaging_tables_v1(schema: str) -> None:
    messaging_metadata(schema).create_all(op.get_bind())


def drop_messaging_tables_v1(schema: str) -> None:
    messaging_metadata(schema).drop_all(op.get_bind())
