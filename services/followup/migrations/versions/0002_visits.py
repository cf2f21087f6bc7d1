"""The followup schema's visit plans, referral states and visits.

The operations are spelled out (rendered once by Alembic from the table definitions of the
time), so a later change to tables.py needs a migration of its own; the test of the
migrations compares the migrated schema with tables.py.

Revision ID: followup_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "followup_0002"
down_revision = "followup_0001"


def upgrade(schema: str = "followup") -> None:
    op.create_table(
        "plans",
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("plan_id", sa.UUID(), nullable=False),
        sa.Column("state", sa.Text(), server_default="open", nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("risk_level", sa.Text(), nullable=False),
        sa.Column("cadence_days", sa.Integer(), nullable=False),
        sa.Column("response_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_visit_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_visit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_announced_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_announced_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
        schema=schema,
    )
    op.create_index(
        "plans_open_by_due",
        "plans",
        ["next_visit_due_at"],
        unique=False,
        schema=schema,
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_table(
        "referral_states",
        sa.Column("referral_id", sa.UUID(), nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("agency", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("referral_id"),
        schema=schema,
    )
    op.create_index(
        op.f("ix_followup_referral_states_case_id"),
        "referral_states",
        ["case_id"],
        unique=False,
        schema=schema,
    )
    op.create_table(
        "visits",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visitor_ref", sa.Text(), nullable=False),
        sa.Column("indicators", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("needs_met", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("needs_unmet", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("risk_found", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_index(op.f("ix_followup_visits_case_id"), "visits", ["case_id"], unique=False, schema=schema)


def downgrade(schema: str = "followup") -> None:
    op.drop_table("visits", schema=schema)
    op.drop_table("referral_states", schema=schema)
    op.drop_table("plans", schema=schema)
