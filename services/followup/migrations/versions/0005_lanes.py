"""The followup schema's outbox learns the urgent lane (issue 22): rows its urgent relay publishes.

Revision ID: followup_0005
"""

from shared.db.messaging_migration import add_outbox_lanes_v2, drop_outbox_lanes_v2

revision = "followup_0005"
down_revision = "followup_0004"


def upgrade(schema: str = "followup") -> None:
    add_outbox_lanes_v2(schema)


def downgrade(schema: str = "followup") -> None:
    drop_outbox_lanes_v2(schema)
