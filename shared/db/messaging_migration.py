"""Version 1 of the messaging tables (outbox, processed_events) for a service's first migration."""

from __future__ import annotations

from alembic import op

from shared.db.tables import messaging_metadata


def create_messaging_tables_v1(schema: str) -> None:
    messaging_metadata(schema).create_all(op.get_bind())


def drop_messaging_tables_v1(schema: str) -> None:
    messaging_metadata(schema).drop_all(op.get_bind())


# Version 2: the outbox's urgent rows. Written with IF [NOT] EXISTS: version 1 creates the tables from
# today's metadata, so a schema created fresh has them already.
def add_urgent_outbox_rows_v2(schema: str) -> None:
    op.execute(
        f'ALTER TABLE "{schema}".outbox ADD COLUMN IF NOT EXISTS urgent boolean NOT NULL DEFAULT false'
    )
    op.execute(
        f'CREATE INDEX IF NOT EXISTS outbox_urgent_pending ON "{schema}".outbox (seq) '
        "WHERE published_at IS NULL AND urgent"
    )


def drop_urgent_outbox_rows_v2(schema: str) -> None:
    op.execute(f'DROP INDEX IF EXISTS "{schema}".outbox_urgent_pending')
    op.execute(f'ALTER TABLE "{schema}".outbox DROP COLUMN IF EXISTS urgent')
