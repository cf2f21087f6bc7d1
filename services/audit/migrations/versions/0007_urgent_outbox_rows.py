"""The outbox's urgent rows: an emergency's events leave before the crowd's (messaging v2).

Revision ID: audit_0007
"""

from shared.db.messaging_migration import add_urgent_outbox_rows_v2, drop_urgent_outbox_rows_v2

revision = "audit_0007"
down_revision = "audit_0006"


def upgrade(schema: str = "audit") -> None:
    add_urgent_outbox_rows_v2(schema)


def downgrade(schema: str = "audit") -> None:
    drop_urgent_outbox_rows_v2(schema)
