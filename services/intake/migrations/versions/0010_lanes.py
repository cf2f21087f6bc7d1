"""The intake schema's outbox learns the urgent lane (issue 22): rows its urgent relay publishes.

Revision ID: intake_0010
"""

from shared.db.messaging_migration import add_outbox_lanes_v2, drop_outbox_lanes_v2

revision = "intake_0010"
down_revision = "intake_0009"


def upgrade(schema: str = "intake") -> None:
    add_outbox_lanes_v2(schema)


def downgrade(schema: str = "intake") -> None:
    drop_outbox_lanes_v2(schema)
