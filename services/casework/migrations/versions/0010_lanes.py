"""The casework schema's outbox learns the urgent lane (issue 22): rows its urgent relay publishes.

Revision ID: casework_0010
"""

from shared.db.messaging_migration import add_outbox_lanes_v2, drop_outbox_lanes_v2

revision = "casework_0010"
down_revision = "casework_0009"


def upgrade(schema: str = "casework") -> None:
    add_outbox_lanes_v2(schema)


def downgrade(schema: str = "casework") -> None:
    drop_outbox_lanes_v2(schema)
