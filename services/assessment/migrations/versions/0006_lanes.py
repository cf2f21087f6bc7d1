"""The assessment schema's outbox learns the urgent lane (issue 22): rows its urgent relay publishes.

Revision ID: assessment_0006
"""

from shared.db.messaging_migration import add_outbox_lanes_v2, drop_outbox_lanes_v2

revision = "assessment_0006"
down_revision = "assessment_0005"


def upgrade(schema: str = "assessment") -> None:
    add_outbox_lanes_v2(schema)


def downgrade(schema: str = "assessment") -> None:
    drop_outbox_lanes_v2(schema)
