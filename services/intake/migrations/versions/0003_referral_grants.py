"""The referrals intake has heard of, which entitle agencies to read a child's details.

Revision ID: intake_0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "intake_0003"
down_revision = "intake_0002"


def upgrade(schema: str = "intake") -> None:
    op.create_table(
        "referral_grants",
        sa.Column("referral_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True), nullable=False),
        sa.Column("agency", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )
    op.create_index("referral_grants_case_agency", "referral_grants", ["case_id", "agency"], schema=schema)


def downgrade(schema: str = "intake") -> None:
    op.drop_table("referral_grants", schema=schema)
