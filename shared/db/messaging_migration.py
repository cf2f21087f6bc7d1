"""The messaging tables (outbox, processed_events) a service's migrations create: version 1 in its
first migration, version 2 (the outbox's urgent lane) in a later one."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.db.tables import messaging_metadata


def create_messaging_tables_v1(schema: str) -> None:
    messaging_metadata(schema, lanes=False).create_all(op.get_bind())


def drop_messaging_tables_v1(schema: str) -> None:
    messaging_metadata(schema, lanes=False).drop_all(op.get_bind())


def add_outbox_lanes_v2(schema: str) -> None:
    """The outbox's `urgent` column and the partial index of its pending urgent rows (issue 22)."""
    urgent = sa.Column("urgent", sa.Boolean, nullable=False, server_default="false")
    op.add_column("outbox", urgent, schema=schema)
    op.create_index(
        "outbox_urgent_pending",
        "outbox",
        ["aggregate_id", "created_at"],
        schema=schema,
        postgresql_where=sa.text("urgent AND published_at IS NULL"),
    )


def drop_outbox_lanes_v2(schema: str) -> None:
    op.drop_index("outbox_urgent_pending", table_name="outbox", schema=schema)
    op.drop_column("outbox", "urgent", schema=schema)
