"""The followup schema's outbox and processed-event tables.

Revision ID: followup_0001
"""

from shared.db.messaging_migration import create_messaging_tables_v1, drop_messaging_tables_v1

revision = "followup_0001"
down_revision = None


def upgrade(schema: str = "followup") -> None:
    create_messaging_tables_v1(schema)


def downgrade(schema: str = "followup") -> None:
    drop_messaging_tables_v1(schema)
