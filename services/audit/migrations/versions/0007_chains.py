"""The ledger in chains (issue 22): one hash chain per partition of the ledger's input, so that
writers of different partitions append at once and a second audit instance adds capacity.

Every entry already written stays where it is, as the chain "" (the legacy chain, hashed as
version 1, position = seq); its signed checkpoints keep proving it. `seq` becomes a row number
taken from a sequence. The one UPDATE this needs runs with the append-only triggers disabled
inside this migration's transaction, and touches no hashed field.

Revision ID: audit_0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "audit_0007"
down_revision = "audit_0006"

ROLE = "cpnet_audit"


def upgrade(schema: str = "audit") -> None:
    op.add_column("ledger", sa.Column("chain", sa.Text(), server_default="", nullable=False), schema=schema)
    op.add_column("ledger", sa.Column("position", sa.BigInteger(), nullable=True), schema=schema)
    op.execute(f"ALTER TABLE {schema}.ledger DISABLE TRIGGER ledger_append_only")
    op.execute(f"UPDATE {schema}.ledger SET position = seq")
    op.execute(f"ALTER TABLE {schema}.ledger ENABLE TRIGGER ledger_append_only")
    op.alter_column("ledger", "position", nullable=False, schema=schema)
    op.alter_column("ledger", "chain", server_default=None, schema=schema)
    op.create_index("ledger_chain_position", "ledger", ["chain", "position"], unique=True, schema=schema)
    op.execute(f"CREATE SEQUENCE {schema}.ledger_seq OWNED BY {schema}.ledger.seq")
    op.execute(f"SELECT setval('{schema}.ledger_seq', coalesce(max(seq), 0) + 1, false) FROM {schema}.ledger")
    op.alter_column(
        "ledger", "seq", server_default=sa.text(f"nextval('{schema}.ledger_seq'::regclass)"), schema=schema
    )
    op.add_column("checkpoints", sa.Column("heads", postgresql.JSONB(), nullable=True), schema=schema)
    op.add_column("checkpoints", sa.Column("frontiers", postgresql.JSONB(), nullable=True), schema=schema)
    op.execute(f"""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
                GRANT USAGE ON SEQUENCE {schema}.ledger_seq TO {ROLE};
            END IF;
        END $$
    """)


def downgrade(schema: str = "audit") -> None:
    # Entries of the named chains cannot go back into one chain without re-hashing the ledger.
    op.execute(f"""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM {schema}.ledger WHERE chain <> '') THEN
                RAISE EXCEPTION 'the ledger has entries in chains: audit_0007 cannot be undone';
            END IF;
        END $$
    """)
    op.drop_column("checkpoints", "frontiers", schema=schema)
    op.drop_column("checkpoints", "heads", schema=schema)
    op.alter_column("ledger", "seq", server_default=None, schema=schema)
    op.execute(f"DROP SEQUENCE {schema}.ledger_seq")
    op.drop_index("ledger_chain_position", table_name="ledger", schema=schema)
    op.drop_column("ledger", "position", schema=schema)
    op.drop_column("ledger", "chain", schema=schema)
