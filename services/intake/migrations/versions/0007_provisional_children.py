"""Children nobody can name: a provisional child in the registry (described, never matched), the
links that later identified one (who, when, why, and what they changed, so a supervisor can undo
them), and when an undone link reopened a case.

Revision ID: intake_0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "intake_0007"
down_revision = "intake_0006"


def upgrade(schema: str = "intake") -> None:
    children, cases = f"{schema}.children.id", f"{schema}.cases.id"
    op.add_column(
        "children",
        sa.Column("provisional", sa.Boolean(), nullable=False, server_default=sa.false()),
        schema=schema,
    )
    op.add_column(
        "children", sa.Column("merged_into", UUID(as_uuid=True), sa.ForeignKey(children)), schema=schema
    )
    op.add_column("cases", sa.Column("reopened_at", sa.DateTime(timezone=True)), schema=schema)
    op.create_table(
        "child_links",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("provisional_id", UUID(as_uuid=True), sa.ForeignKey(children), nullable=False),
        sa.Column("child_id", UUID(as_uuid=True), sa.ForeignKey(children), nullable=False),
        sa.Column("merged_child_id", UUID(as_uuid=True), sa.ForeignKey(children)),
        sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey(cases), nullable=False),
        sa.Column("merged_case_id", UUID(as_uuid=True), sa.ForeignKey(cases)),
        sa.Column("moved_reports", ARRAY(UUID(as_uuid=True)), nullable=False),
        sa.Column("previous_identity", sa.LargeBinary(), nullable=False),
        sa.Column("previous_national_id_digest", sa.Text()),
        sa.Column("previous_match_digest", sa.Text()),
        sa.Column("previous_provisional", sa.Boolean(), nullable=False),
        sa.Column("merged_national_id_digest", sa.Text()),
        sa.Column("merged_match_digest", sa.Text()),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("linked_by", sa.Text(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undo_reason", sa.Text()),
        sa.Column("undone_by", sa.Text()),
        sa.Column("undone_at", sa.DateTime(timezone=True)),
        schema=schema,
    )
    op.create_index("ix_intake_child_links_provisional_id", "child_links", ["provisional_id"], schema=schema)


def downgrade(schema: str = "intake") -> None:
    op.drop_table("child_links", schema=schema)
    op.drop_column("cases", "reopened_at", schema=schema)
    op.drop_column("children", "merged_into", schema=schema)
    op.drop_column("children", "provisional", schema=schema)
