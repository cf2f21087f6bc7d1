"""The case's number people say and write (个案编号), as case.assessed brings it: kept with the case
and copied onto each referral made of it, for the agency's people and on referral.created and
referral.withdrawn.

Revision ID: referral_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "referral_0003"
down_revision = "referral_0002"


def upgrade(schema: str = "referral") -> None:
    op.add_column("cases", sa.Column("case_number", sa.Text(), nullable=True), schema=schema)
    op.add_column("referrals", sa.Column("case_number", sa.Text(), nullable=True), schema=schema)


def downgrade(schema: str = "referral") -> None:
    op.drop_column("referrals", "case_number", schema=schema)
    op.drop_column("cases", "case_number", schema=schema)
