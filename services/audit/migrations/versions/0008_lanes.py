"""The audit schema's outbox learns the urgent lane (issue 22): rows its urgent relay publishes.

Revision ID: audit_0008
"""

from shared.db.messaging_migration import add_outbox_lanes_v2, drop_outbox_lanes_v2

revision = "audit_0008"
down_revision = "audit_0007"


def upgrade(schema: str = "audit") -> None:
    add_outbox_lanes_v2(schema)


def downgrade(schema: str = "audit") -> None:
    drop_outbox_lanes_v2(schema)
