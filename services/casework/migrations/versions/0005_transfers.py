"""A transfer request's destination: whose supervisors accept or decline it.

Revision ID: casework_0005
"""

import sqlalchemy as sa
from alembic import op

revision = "casework_0005"
down_revision = "casework_0004"


def upgrade(schema: str = "casework") -> None:
    op.add_column("approvals", sa.Column("to_jurisdiction", sa.Text(), nullable=True), schema=schema)
    op.create_index(
        "approvals_pending_to",
        "approvals",
        ["to_jurisdiction"],
        unique=False,
        schema=schema,
        postgresql_where=sa.text("state = 'pending' AND to_jurisdiction IS NOT NULL"),
        postgresql_ops={"to_jurisdiction": "text_pattern_ops"},
    )


def downgrade(schema: str = "casework") -> None:
    op.drop_index("approvals_pending_to", table_name="approvals", schema=schema)
    op.drop_column("approvals", "to_jurisdiction", schema=schema)
