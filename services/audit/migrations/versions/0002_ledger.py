"""The append-only ledger and its checkpoints: a trigger refuses every UPDATE, DELETE and
TRUNCATE, whoever asks; only a superuser who disables it can alter a row, and the hash
chain then names the row (`cpnet audit verify`).

The operations are spelled out (rendered once by Alembic from the table definitions of the
time), so a later change to tables.py needs a migration of its own; the test of the
migrations compares the migrated schema with tables.py.

Revision ID: audit_0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "audit_0002"
down_revision = "audit_0001"


def upgrade(schema: str = "audit") -> None:
    op.create_table(
        "ledger",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_key", sa.Text(), nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=True),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.Text(), nullable=True),
        sa.Column("record", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_key"),
        schema=schema,
    )
    op.create_index(op.f("ix_audit_ledger_case_id"), "ledger", ["case_id"], unique=False, schema=schema)
    op.create_table(
        "checkpoints",
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("size"),
        schema=schema,
    )
    op.execute("""
        CREATE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit ledger is append-only: % on %.% refused',
                TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME;
        END $$
    """)
    for table in ("ledger", "checkpoints"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON audit.{table} "
            "FOR EACH ROW EXECUTE FUNCTION audit.refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON audit.{table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()"
        )


def downgrade(schema: str = "audit") -> None:
    op.drop_table("checkpoints", schema=schema)
    op.drop_table("ledger", schema=schema)
    op.execute("DROP FUNCTION audit.refuse_change()")
