"""The assessment schema's outbox and processed-event tables.

Revision ID: assessment_0001
"""

from shared.db.messaging_migration import create_messaging_tables_v1, drop_messaging_tables_v1

revision = "assessment_0001"
down_revision = None


def upgrade(schema: str = "assessment") -> None:
    create_messaging_tables_v1(schema)


def downgrade(schema: str = "assessment") -> None:
    drop_messaging_tables_v1(schema)
