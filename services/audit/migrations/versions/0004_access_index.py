"""An index for a child's access log: the ledger's access entries by child.

Revision ID: audit_0004
"""

from alembic import op

revision = "audit_0004"
down_revision = "audit_0003"


def upgrade(schema: str = "audit") -> None:
    op.execute(f"""CREATE INDEX ledger_access_child ON {schema}.ledger
                   ((record -> 'event' -> 'payload' ->> 'child_ref')) WHERE event_type = 'access.recorded'""")


def downgrade(schema: str = "audit") -> None:
    op.execute(f"DROP INDEX {schema}.ledger_access_child")
