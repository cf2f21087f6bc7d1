"""Follow-up hears a case's closure and a person's reopening: the plan keeps the moments of both, so
the two topics may be read in either order.

Revision ID: followup_0004
"""

import sqlalchemy as sa
from alembic import op

revision = "followup_0004"
down_revision = "followup_0003"


def upgrade(schema: str = "followup") -> None:
    op.add_column("plans", sa.Column("case_closed_at", sa.DateTime(timezone=True)), schema=schema)
    op.add_column("plans", sa.Column("case_reopened_at", sa.DateTime(timezone=True)), schema=schema)


def downgrade(schema: str = "followup") -> None:
    op.drop_column("plans", "case_reopened_at", schema=schema)
    op.drop_column("plans", "case_closed_at", schema=schema)
