"""The audit schema's outbox and processed-event tables.

Revision ID: audit_0001
"""

from shared.db.messaging_migration import create_messaging_tables_v1, drop_messaging_tables_v1

revision = "audit_0001"
down_revision = None


def upgrade(schema: str = "audit") -> None:
    create_messaging_tables_v1(schema)


def downgrade(schema: str = "audit") -> None:
    drop_messaging_tables_v1(schema)
