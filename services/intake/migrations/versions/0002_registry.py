"""The intake schema's child registry, cases, reports, idempotency keys and archive.

Revision ID: intake_0002
"""

from alembic import op

from services.intake.tables import DOMAIN_TABLES, metadata

revision = "intake_0002"
down_revision = "intake_0001"


def upgrade(schema: str = "intake") -> None:
    metadata.create_all(op.get_bind(), tables=list(DOMAIN_TABLES))


def downgrade(schema: str = "intake") -> None:
    metadata.drop_all(op.get_bind(), tables=list(DOMAIN_TABLES))
