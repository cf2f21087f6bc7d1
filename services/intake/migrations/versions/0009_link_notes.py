"""A case's identification links found by its id (as the case that remained or the one merged away),
and the notes written with intake's actions — a supervisor's undo of a link (encrypted).

Revision ID: intake_0009
"""

from alembic import op

from shared.db.notes_migration import create_notes_table_v1, drop_notes_table_v1

revision = "intake_0009"
down_revision = "intake_0008"


def upgrade(schema: str = "intake") -> None:
    op.create_index("child_links_case_id", "child_links", ["case_id"], schema=schema)
    op.create_index("child_links_merged_case_id", "child_links", ["merged_case_id"], schema=schema)
    create_notes_table_v1(schema)


def downgrade(schema: str = "intake") -> None:
    drop_notes_table_v1(schema)
    op.drop_index("child_links_merged_case_id", "child_links", schema=schema)
    op.drop_index("child_links_case_id", "child_links", schema=schema)
