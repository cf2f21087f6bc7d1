"""The keyed digest of each report's reporter phone (shared/crypto.py `reporter_phone_digest`), indexed,
so the cases a caller reported can be found by the number without keeping it in clear.

Reports stored before this revision have no digest: a migration holds neither the lookup key nor the
encryption keys to read their phones, so they are not found by phone.

Revision ID: intake_0008
"""

import sqlalchemy as sa
from alembic import op

revision = "intake_0008"
down_revision = "intake_0007"

INDEX = "ix_intake_reports_reporter_phone_digest"


def upgrade(schema: str = "intake") -> None:
    op.add_column("reports", sa.Column("reporter_phone_digest", sa.Text()), schema=schema)
    op.create_index(INDEX, "reports", ["reporter_phone_digest"], schema=schema)


def downgrade(schema: str = "intake") -> None:
    op.drop_index(INDEX, table_name="reports", schema=schema)
    op.drop_column("reports", "reporter_phone_digest", schema=schema)
