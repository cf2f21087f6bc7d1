"""The referral schema's outbox and processed-event tables.

Revision ID: referral_0001
"""

from shared.db.messaging_migration import create_messaging_tables_v1, drop_messaging_tables_v1

revision = "referral_0001"
down_revision = None


def upgrade(schema: str = "referral") -> None:
    create_messaging_tables_v1(schema)


def downgrade(schema: str = "referral") -> None:
    drop_messaging_tables_v1(schema)
