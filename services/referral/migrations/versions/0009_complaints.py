"""Complaints about a service and how the county found them (issue 23).

Revision ID: referral_0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "referral_0009"
down_revision = "referral_0008"


def upgrade(schema: str = "referral") -> None:
    op.create_table(
        "complaints",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("service_id", UUID(as_uuid=True), sa.ForeignKey(f"{schema}.services.id"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("made_by", sa.Text, nullable=False),
        sa.Column("received_on", sa.Date, nullable=False),
        sa.Column("recorded_by", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finding", sa.Text),
        sa.Column("handled_on", sa.Date),
        sa.Column("handled_by", sa.Text),
        schema=schema,
    )
    op.create_index("ix_referral_complaints_service_id", "complaints", ["service_id"], schema=schema)


def downgrade(schema: str = "referral") -> None:
    op.drop_table("complaints", schema=schema)
