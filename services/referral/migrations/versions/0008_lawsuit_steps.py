"""A guardianship-transfer lawsuit's steps, each with its day (issue 23).

Revision ID: referral_0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "referral_0008"
down_revision = "referral_0007"


def upgrade(schema: str = "referral") -> None:
    op.create_table(
        "service_steps",
        sa.Column("service_id", UUID(as_uuid=True), sa.ForeignKey(f"{schema}.services.id"), primary_key=True),
        sa.Column("step", sa.Text, primary_key=True),
        sa.Column("on", sa.Date, nullable=False),
        sa.Column("result", sa.Text),
        sa.Column("recorded_by", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )


def downgrade(schema: str = "referral") -> None:
    op.drop_table("service_steps", schema=schema)
