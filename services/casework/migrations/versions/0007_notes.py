"""The notes written with assignments, written reviews, requests for approval and their decisions
(encrypted).

Revision ID: casework_0007
"""

from shared.db.notes_migration import create_notes_table_v1, drop_notes_table_v1

revision = "casework_0007"
down_revision = "casework_0006"


def upgrade(schema: str = "casework") -> None:
    create_notes_table_v1(schema)


def downgrade(schema: str = "casework") -> None:
    drop_notes_table_v1(schema)
