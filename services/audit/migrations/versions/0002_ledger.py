"""The append-only ledger and its checkpoints: a trigger refuses every UPDATE, DELETE and
TRUNCATE, whoever asks; only a superuser who disables it can alter a row, and the hash
chain then names the row (`cpnet audit verify`).

Revision ID: audit_0002
"""

from alembic import op

from services.audit.tables import DOMAIN_TABLES, metadata

revision = "audit_0002"
down_revision = "audit_0001"


def upgrade(schema: str = "audit") -> None:
    metadata.create_all(op.get_bind(), tables=list(DOMAIN_TABLES))
    op.execute("""
        CREATE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit ledger is append-only: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME;
        END $$
    """)
    for table in ("ledger", "checkpoints"):
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON audit.{table} "
                   "FOR EACH ROW EXECUTE FUNCTION audit.refuse_change()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON audit.{table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()")


def downgrade(schema: str = "audit") -> None:
    metadata.drop_all(op.get_bind(), tables=list(DOMAIN_TABLES))
    op.execute("DROP FUNCTION audit.refuse_change()")
