"""The casework schema's cases (owner, review, what is due next) and the referrals they wait on.

The operations are spelled out, so a later change to tables.py needs a migration of its own;
the test of the migrations compares the migrated schema with tables.py.

Revision ID: casework_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "casework_0002"
down_revision = "casework_0001"


def upgrade(schema: str = "casework") -> None:
    op.create_table(
        "cases",
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("child_ref", sa.UUID(), nullable=True),
        sa.Column("jurisdiction", sa.Text(), nullable=True),
        sa.Column("categories", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("risk_level", sa.Text(), nullable=True),
        sa.Column("initial_risk_level", sa.Text(), nullable=True),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("owner_node", sa.Text(), nullable=True),
        sa.Column("owner_ref", sa.Text(), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("graded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("visit_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_reason", sa.Text(), nullable=True),
        sa.Column("open_referrals", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_due_kind", sa.Text(), nullable=True),
        sa.Column("urgency", sa.SmallInteger(), nullable=False),
        sa.Column("sort_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
        schema=schema,
    )
    op.create_index(
        "cases_worklist",
        "cases",
        ["urgency", "sort_due_at", "case_id"],
        unique=False,
        schema=schema,
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_index(
        "cases_by_territory",
        "cases",
        ["jurisdiction"],
        unique=False,
        schema=schema,
        postgresql_ops={"jurisdiction": "text_pattern_ops"},
    )
    op.create_index(
        "cases_by_owner",
        "cases",
        ["owner_ref"],
        unique=False,
        schema=schema,
        postgresql_where=sa.text("owner_ref IS NOT NULL"),
    )
    op.create_table(
        "referrals",
        sa.Column("referral_id", sa.UUID(), nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("agency", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("ack_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("referral_id"),
        schema=schema,
    )
    op.create_index(
        op.f("ix_casework_referrals_case_id"), "referrals", ["case_id"], unique=False, schema=schema
    )


def downgrade(schema: str = "casework") -> None:
    op.drop_index(op.f("ix_casework_referrals_case_id"), table_name="referrals", schema=schema)
    op.drop_table("referrals", schema=schema)
    op.drop_index("cases_by_owner", table_name="cases", schema=schema)
    op.drop_index("cases_by_territory", table_name="cases", schema=schema)
    op.drop_index("cases_worklist", table_name="cases", schema=schema)
    op.drop_table("cases", schema=schema)
