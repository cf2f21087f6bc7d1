"""How many times each case has been graded, put on every case.assessed as its version (contracts
1.10): a stage that reads the topic in two lanes ignores a grade older than the one it applied.

Revision ID: assessment_0005
"""

import sqlalchemy as sa
from alembic import op

revision = "assessment_0005"
down_revision = "assessment_0004"


def upgrade(schema: str = "assessment") -> None:
    op.add_column(
        "cases", sa.Column("gradings", sa.Integer(), nullable=False, server_default="0"), schema=schema
    )


def downgrade(schema: str = "assessment") -> None:
    op.drop_column("cases", "gradings", schema=schema)
