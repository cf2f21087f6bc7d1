"""Each surveyed child's row of a screening import, kept encrypted beside the child's record.

Revision ID: intake_0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "intake_0005"
down_revision = "intake_0004"


def upgrade(schema: str = "intake") -> None:
    op.create_table(
        "screenings",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("external_id", sa.Text, nullable=False, unique=True),
        sa.Column("child_id", UUID(as_uuid=True), sa.ForeignKey(f"{schema}.children.id"), nullable=False),
        sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey(f"{schema}.cases.id")),
        sa.Column("report_id", UUID(as_uuid=True), sa.ForeignKey(f"{schema}.reports.id")),
        sa.Column("jurisdiction", sa.Text, nullable=False),
        sa.Column("surveyed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("surveyor_ref", sa.Text, nullable=False),
        sa.Column("categories", ARRAY(sa.Text), nullable=False),
        sa.Column("indicators", ARRAY(sa.Text), nullable=False),
        sa.Column("situation", sa.LargeBinary, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )
    op.create_index("ix_intake_screenings_child_id", "screenings", ["child_id"], schema=schema)


def downgrade(schema: str = "intake") -> None:
    op.drop_table("screenings", schema=schema)
