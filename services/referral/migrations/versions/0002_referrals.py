"""The referral schema's cases and referrals.

Revision ID: referral_0002
"""

from alembic import op

from services.referral.tables import DOMAIN_TABLES, metadata

revision = "referral_0002"
down_revision = "referral_0001"


def upgrade(schema: str = "referral") -> None:
    metadata.create_all(op.get_bind(), tables=list(DOMAIN_TABLES))


def downgrade(schema: str = "referral") -> None:
    metadata.drop_all(op.get_bind(), tables=list(DOMAIN_TABLES))
