"""The assessment schema's cases, grade history and needs-assessment records.

Revision ID: assessment_0002
"""

from alembic import op

from services.assessment.tables import DOMAIN_TABLES, metadata

revision = "assessment_0002"
down_revision = "assessment_0001"


def upgrade(schema: str = "assessment") -> None:
    metadata.create_all(op.get_bind(), tables=list(DOMAIN_TABLES))


def downgrade(schema: str = "assessment") -> None:
    metadata.drop_all(op.get_bind(), tables=list(DOMAIN_TABLES))
