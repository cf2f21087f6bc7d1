"""Joint meetings, their decisions and action items (issue 24).

Revision ID: referral_0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "referral_0010"
down_revision = "referral_0009"


def upgrade(schema: str = "referral") -> None:
    op.create_table(
        "meetings",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("jurisdiction", sa.Text, nullable=False),
        sa.Column("held_on", sa.Date, nullable=False),
        sa.Column("present", ARRAY(sa.Text), nullable=False),
        sa.Column("convened_by", sa.Text, nullable=False),
        sa.Column("convened_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_index("ix_referral_meetings_jurisdiction", "meetings", ["jurisdiction"], schema=schema)
    op.create_table(
        "meeting_cases",
        sa.Column("meeting_id", UUID(as_uuid=True), sa.ForeignKey(f"{schema}.meetings.id"), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("decided_by", sa.Text, nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_table(
        "action_items",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("meeting_id", UUID(as_uuid=True), sa.ForeignKey(f"{schema}.meetings.id"), nullable=False),
        sa.Column("case_id", UUID(as_uuid=True), nullable=False),
        sa.Column("agency", sa.Text, nullable=False),
        sa.Column("task", sa.Text, nullable=False),
        sa.Column("jurisdiction", sa.Text, nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_by", sa.Text),
        sa.Column("done_at", sa.DateTime(timezone=True)),
        schema=schema,
    )
    op.create_index("ix_referral_action_items_meeting_id", "action_items", ["meeting_id"], schema=schema)
    op.create_index("ix_referral_action_items_case_id", "action_items", ["case_id"], schema=schema)


def downgrade(schema: str = "referral") -> None:
    op.drop_table("action_items", schema=schema)
    op.drop_table("meeting_cases", schema=schema)
    op.drop_table("meetings", schema=schema)
