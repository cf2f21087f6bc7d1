"""The outbox's urgent rows: an emergency's events leave before the crowd's (messaging v2).

Revision ID: referral_0005
"""

from shared.db.messaging_migration import add_urgent_outbox_rows_v2, drop_urgent_outbox_rows_v2

revision = "referral_0005"
down_revision = "referral_0004"


def upgrade(schema: str = "referral") -> None:
    add_urgent_outbox_rows_v2(schema)


def downgrade(schema: str = "referral") -> None:
    drop_urgent_outbox_rows_v2(schema)
