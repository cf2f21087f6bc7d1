"""The casework schema's approvals (screening out, closing), each case's count of pending ones, and
when follow-up's closure rule was last met.

Revision ID: casework_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "casework_0003"
down_revision = "casework_0002"


def upgrade(schema: str = "casework") -> None:
    op.add_column(
        "cases",
        sa.Column("pending_approvals", sa.Integer(), server_default="0", nullable=False),
        schema=schema,
    )
    op.add_column(
        "cases", sa.Column("closure_rule_met_at", sa.DateTime(timezone=True), nullable=True), schema=schema
    )
    op.create_table(
        "approvals",
        sa.Column("approval_id", sa.UUID(), nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("approval_id"),
        schema=schema,
    )
    op.create_index(
        op.f("ix_casework_approvals_case_id"), "approvals", ["case_id"], unique=False, schema=schema
    )
    op.create_index(
        "approvals_one_pending",
        "approvals",
        ["case_id", "kind"],
        unique=True,
        schema=schema,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        "approvals_pending",
        "approvals",
        ["requested_at"],
        unique=False,
        schema=schema,
        postgresql_where=sa.text("state = 'pending'"),
    )


def downgrade(schema: str = "casework") -> None:
    op.drop_index("approvals_pending", table_name="approvals", schema=schema)
    op.drop_index("approvals_one_pending", table_name="approvals", schema=schema)
    op.drop_index(op.f("ix_casework_approvals_case_id"), table_name="approvals", schema=schema)
    op.drop_table("approvals", schema=schema)
    op.drop_column("cases", "closure_rule_met_at", schema=schema)
    op.drop_column("cases", "pending_approvals", schema=schema)
