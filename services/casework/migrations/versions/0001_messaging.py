"""The casework schema's outbox and processed-event tables.

Revision ID: casework_0001
"""

from shared.db.messaging_migration import create_messaging_tables_v1, drop_messaging_tables_v1

revision = "casework_0001"
down_revision = None


def upgrade(schema: str = "casework") -> None:
    create_messaging_tables_v1(schema)


def downgrade(schema: str = "casework") -> None:
    drop_messaging_tables_v1(schema)
