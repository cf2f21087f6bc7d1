"""A report is the same report only from the same source: two institutions that happen to
use the same id on one channel both have their reports kept.

Revision ID: intake_0004
"""

from alembic import op

revision = "intake_0004"
down_revision = "intake_0003"


def upgrade(schema: str = "intake") -> None:
    op.drop_constraint("reports_channel_external_id", "reports", schema=schema, type_="unique")
    op.create_unique_constraint(
        "reports_source_channel_external_id", "reports", ["source", "channel", "external_id"], schema=schema
    )


def downgrade(schema: str = "intake") -> None:
    op.drop_constraint("reports_source_channel_external_id", "reports", schema=schema, type_="unique")
    op.create_unique_constraint(
        "reports_channel_external_id", "reports", ["channel", "external_id"], schema=schema
    )
