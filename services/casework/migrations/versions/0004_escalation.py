"""The casework schema's memory of what the sweep escalated, and its two indexes.

Revision ID: casework_0004
"""

import sqlalchemy as sa
from alembic import op

revision = "casework_0004"
down_revision = "casework_0003"


def upgrade(schema: str = "casework") -> None:
    op.add_column(
        "cases", sa.Column("review_escalated_for", sa.DateTime(timezone=True), nullable=True), schema=schema
    )
    op.add_column(
        "cases",
        sa.Column("blind_spot_escalated_at", sa.DateTime(timezone=True), nullable=True),
        schema=schema,
    )
    op.create_index(
        "cases_review_pending",
        "cases",
        ["review_due_at"],
        unique=False,
        schema=schema,
        postgresql_where=sa.text("state = 'open' AND reviewed_at IS NULL"),
    )
    op.create_index(
        "cases_blind_spots",
        "cases",
        ["last_activity_at"],
        unique=False,
        schema=schema,
        postgresql_where=sa.text("state = 'open' AND (owner_node IS NULL OR next_due_at IS NULL)"),
    )


def downgrade(schema: str = "casework") -> None:
    op.drop_index("cases_blind_spots", table_name="cases", schema=schema)
    op.drop_index("cases_review_pending", table_name="cases", schema=schema)
    op.drop_column("cases", "blind_spot_escalated_at", schema=schema)
    op.drop_column("cases", "review_escalated_for", schema=schema)
