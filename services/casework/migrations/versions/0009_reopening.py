"""What a person's reopening of a closed case needs (services/casework/decide.py: reopening): the grade a
case had when it closed (a case red then needs a supervisor's approval), when it was reopened, and the case
a link merged it into (not reopened this way). Cases closed before this know their grade at closure as the
grade they have.

Revision ID: casework_0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "casework_0009"
down_revision = "casework_0008"


def upgrade(schema: str = "casework") -> None:
    op.add_column("cases", sa.Column("closed_risk_level", sa.Text(), nullable=True), schema=schema)
    op.add_column("cases", sa.Column("reopened_at", sa.DateTime(timezone=True), nullable=True), schema=schema)
    op.add_column("cases", sa.Column("merged_into", UUID(as_uuid=True), nullable=True), schema=schema)
    op.execute(f"UPDATE {schema}.cases SET closed_risk_level = risk_level WHERE state = 'closed'")


def downgrade(schema: str = "casework") -> None:
    op.drop_column("cases", "merged_into", schema=schema)
    op.drop_column("cases", "reopened_at", schema=schema)
    op.drop_column("cases", "closed_risk_level", schema=schema)
