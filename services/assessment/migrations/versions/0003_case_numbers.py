"""The case's number people say and write (个案编号), as intake gives it on case.reported, kept to put
on every case.assessed.

Revision ID: assessment_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "assessment_0003"
down_revision = "assessment_0002"


def upgrade(schema: str = "assessment") -> None:
    op.add_column("cases", sa.Column("case_number", sa.Text(), nullable=True), schema=schema)


def downgrade(schema: str = "assessment") -> None:
    op.drop_column("cases", "case_number", schema=schema)
