"""The stage a case had reached when it closed, so that a case closed as the duplicate of a link a
supervisor undoes reopens where it was (services/casework/decide.py: link_undone).

Revision ID: casework_0008
"""

import sqlalchemy as sa
from alembic import op

revision = "casework_0008"
down_revision = "casework_0007"


def upgrade(schema: str = "casework") -> None:
    op.add_column("cases", sa.Column("closed_from_stage", sa.Text(), nullable=True), schema=schema)


def downgrade(schema: str = "casework") -> None:
    op.drop_column("cases", "closed_from_stage", schema=schema)
