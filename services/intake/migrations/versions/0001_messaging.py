"""The intake schema's outbox and processed-event tables.

Revision ID: intake_0001
"""

from shared.db.messaging_migration import create_messaging_tables_v1, drop_messaging_tables_v1

revision = "intake_0001"
down_revision = None


def upgrade(schema: str = "intake") -> None:
    create_messaging_tables_v1(schema)


def downgrade(schema: str = "intake") -> None:
    drop_messaging_tables_v1(schema)
