"""The notes written with home visits, assessment reports, plans and grade overrides (encrypted), and
which child each case is about, to name it on the access ledger when they are read.

Revision ID: assessment_0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from shared.db.notes_migration import create_notes_table_v1, drop_notes_table_v1

revision = "assessment_0004"
down_revision = "assessment_0003"


def upgrade(schema: str = "assessment") -> None:
    op.add_column("cases", sa.Column("child_ref", UUID(as_uuid=True), nullable=True), schema=schema)
    create_notes_table_v1(schema)


def downgrade(schema: str = "assessment") -> None:
    drop_notes_table_v1(schema)
    op.drop_column("cases", "child_ref", schema=schema)
