"""The version of the grade in force (case.assessed's, since contracts 1.10): with case.assessed read in
two lanes, a grade not newer than the one applied is ignored.

Revision ID: referral_0005
"""

import sqlalchemy as sa
from alembic import op

revision = "referral_0005"
down_revision = "referral_0004"


def upgrade(schema: str = "referral") -> None:
    op.add_column("cases", sa.Column("assessed_version", sa.Integer(), nullable=True), schema=schema)


def downgrade(schema: str = "referral") -> None:
    op.drop_column("cases", "assessed_version", schema=schema)
