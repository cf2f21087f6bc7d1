"""The followup schema's visit plans, referral states and visits.

Revision ID: followup_0002
"""

from alembic import op

from services.followup.tables import DOMAIN_TABLES, metadata

revision = "followup_0002"
down_revision = "followup_0001"


def upgrade(schema: str = "followup") -> None:
    metadata.create_all(op.get_bind(), tables=list(DOMAIN_TABLES))


def downgrade(schema: str = "followup") -> None:
    metadata.drop_all(op.get_bind(), tables=list(DOMAIN_TABLES))
