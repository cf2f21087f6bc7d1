"""The notes written with follow-up visits (encrypted), and which child each plan's case is about, to
name it on the access ledger when they are read.

Revision ID: followup_0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from shared.db.notes_migration import create_notes_table_v1, drop_notes_table_v1

revision = "followup_0003"
down_revision = "followup_0002"


def upgrade(schema: str = "followup") -> None:
    op.add_column("plans", sa.Column("child_ref", UUID(as_uuid=True), nullable=True), schema=schema)
    create_notes_table_v1(schema)


def downgrade(schema: str = "followup") -> None:
    drop_notes_table_v1(schema)
    op.drop_column("plans", "child_ref", schema=schema)
