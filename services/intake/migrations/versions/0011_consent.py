"""Consent and assent to share a child's details (issue 23): the consents, the services that entitle a
provider's workers to read, and which referrals are emergencies (the police read those without consent).

Revision ID: intake_0011
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "intake_0011"
down_revision = "intake_0010"


def upgrade(schema: str = "intake") -> None:
    op.add_column(
        "referral_grants",
        sa.Column("emergency", sa.Boolean, nullable=False, server_default=sa.false()),
        schema=schema,
    )
    op.create_table(
        "service_grants",
        sa.Column("service_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True), nullable=False),
        sa.Column("provider_id", UUID(as_uuid=True), nullable=False),
        sa.Column("provider_kind", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )
    op.create_index(
        "service_grants_case_provider", "service_grants", ["case_id", "provider_id"], schema=schema
    )
    op.create_table(
        "consents",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey(f"{schema}.cases.id"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("parties", ARRAY(sa.Text), nullable=False),
        sa.Column("given_on", sa.Date, nullable=False),
        sa.Column("given_by", sa.Text),
        sa.Column("way", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("recorded_by", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_on", sa.Date),
        sa.Column("withdrawn_by", sa.Text),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True)),
        schema=schema,
    )
    op.create_index("ix_intake_consents_case_id", "consents", ["case_id"], schema=schema)


def downgrade(schema: str = "intake") -> None:
    op.drop_table("consents", schema=schema)
    op.drop_table("service_grants", schema=schema)
    op.drop_column("referral_grants", "emergency", schema=schema)
