"""The outbox's urgent rows: an emergency's events leave before the crowd's (messaging v2).

Revision ID: followup_0005
"""

from shared.db.messaging_migration import add_urgent_outbox_rows_v2, drop_urgent_outbox_rows_v2

revision = "followup_0005"
down_revision = "followup_0004"


def upgrade(schema: str = "followup") -> None:
    add_urgent_outbox_rows_v2(schema)


def downgrade(schema: str = "followup") -> None:
    drop_urgent_outbox_rows_v2(schema)
