"""Version 1 of a service's notes table (shared/notes.py), spelled out for the migration that adds it."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID


def create_notes_table_v1(schema: str) -> None:
    op.create_table(
        "notes",
        sa.Column("note_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True), nullable=False),
        sa.Column("about", UUID(as_uuid=True)),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("written_by", sa.Text(), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        schema=schema,
    )
    op.create_index("notes_by_case", "notes", ["case_id", "written_at"], schema=schema)


def drop_notes_table_v1(schema: str) -> None:
    op.drop_table("notes", schema=schema)
