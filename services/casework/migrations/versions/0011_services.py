"""The services of each case's plan as casework hears of them (issue 23): a case does not close while one
is open, and an open one's due date is among what is due next.

Revision ID: casework_0011
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "casework_0011"
down_revision = "casework_0010"


def upgrade(schema: str = "casework") -> None:
    op.create_table(
        "services",
        sa.Column("service_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_index("ix_casework_services_case_id", "services", ["case_id"], schema=schema)


def downgrade(schema: str = "casework") -> None:
    op.drop_table("services", schema=schema)
