"""The outbox's urgent rows: an emergency's events leave before the crowd's (messaging v2).

Revision ID: intake_0010
"""

from shared.db.messaging_migration import add_urgent_outbox_rows_v2, drop_urgent_outbox_rows_v2

revision = "intake_0010"
down_revision = "intake_0009"


def upgrade(schema: str = "intake") -> None:
    add_urgent_outbox_rows_v2(schema)


def downgrade(schema: str = "intake") -> None:
    drop_urgent_outbox_rows_v2(schema)
