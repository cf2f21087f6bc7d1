"""The referral schema's cases and referrals.

The operations are spelled out (rendered once by Alembic from the table definitions of the
time), so a later change to tables.py needs a migration of its own; the test of the
migrations compares the migrated schema with tables.py.

Revision ID: referral_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "referral_0002"
down_revision = "referral_0001"


def upgrade(schema: str = "referral") -> None:
    op.create_table(
        "cases",
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("risk_level", sa.Text(), nullable=False),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("categories", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("needs", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
        schema=schema,
    )
    op.create_table(
        "referrals",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("agency", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("risk_level", sa.Text(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("escalations", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ack_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("responder_ref", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_index(
        op.f("ix_referral_referrals_case_id"), "referrals", ["case_id"], unique=False, schema=schema
    )
    op.create_index(
        "referrals_one_open_per_agency",
        "referrals",
        ["case_id", "agency"],
        unique=True,
        schema=schema,
        postgresql_where=sa.text("state IN ('created', 'acknowledged', 'in_progress')"),
    )
    op.create_index(
        "referrals_unacknowledged_due",
        "referrals",
        ["ack_due_at"],
        unique=False,
        schema=schema,
        postgresql_where=sa.text("state = 'created'"),
    )


def downgrade(schema: str = "referral") -> None:
    op.drop_table("referrals", schema=schema)
    op.drop_table("cases", schema=schema)
