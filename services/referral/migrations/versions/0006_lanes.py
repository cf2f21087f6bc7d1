"""The referral schema's outbox learns the urgent lane (issue 22): rows its urgent relay publishes.

Revision ID: referral_0006
"""

from shared.db.messaging_migration import add_outbox_lanes_v2, drop_outbox_lanes_v2

revision = "referral_0006"
down_revision = "referral_0005"


def upgrade(schema: str = "referral") -> None:
    add_outbox_lanes_v2(schema)


def downgrade(schema: str = "referral") -> None:
    drop_outbox_lanes_v2(schema)
