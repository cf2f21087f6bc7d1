"""What the figures count (issue 24): each counted ledger entry's happenings, written with the entry.
The audit role may read and add them, never change them. The entries already on the ledger are made
into happenings by `cpnet bulletin backfill` (the migration does not read the ledger's JSON).

Revision ID: audit_0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "audit_0009"
down_revision = "audit_0008"

ROLE = "cpnet_audit"


def upgrade(schema: str = "audit") -> None:
    op.create_table(
        "happenings",
        sa.Column("event_key", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("jurisdiction", sa.Text),
        sa.Column("code", sa.Text),
        sa.Column("agency", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("ref", UUID(as_uuid=True)),
        sa.Column("child_ref", UUID(as_uuid=True)),
        sa.Column("age", sa.Integer),
        sa.Column("categories", ARRAY(sa.Text), nullable=False),
        sa.Column("emergency", sa.Boolean),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("number", sa.Text),
        schema=schema,
    )
    op.create_index("ix_audit_happenings_case_id", "happenings", ["case_id"], schema=schema)
    op.execute(f"""CREATE INDEX happenings_place ON {schema}.happenings (jurisdiction text_pattern_ops)
                   WHERE kind IN ('reported', 'transferred')""")
    op.execute(f"""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
                GRANT SELECT, INSERT ON {schema}.happenings TO {ROLE};
            END IF;
        END $$
    """)


def downgrade(schema: str = "audit") -> None:
    op.drop_table("happenings", schema=schema)
