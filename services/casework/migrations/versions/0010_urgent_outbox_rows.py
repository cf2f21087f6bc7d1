"""The outbox's urgent rows: an emergency's events leave before the crowd's (messaging v2).

Revision ID: casework_0010
"""

from shared.db.messaging_migration import add_urgent_outbox_rows_v2, drop_urgent_outbox_rows_v2

revision = "casework_0010"
down_revision = "casework_0009"


def upgrade(schema: str = "casework") -> None:
    add_urgent_outbox_rows_v2(schema)


def downgrade(schema: str = "casework") -> None:
    drop_urgent_outbox_rows_v2(schema)
