"""Indexes for the access log across children: newest first, by reader, by territory.

Revision ID: audit_0005
"""

from alembic import op

revision = "audit_0005"
down_revision = "audit_0004"
ACCESS = "WHERE event_type = 'access.recorded'"


def upgrade(schema: str = "audit") -> None:
    op.execute(f"CREATE INDEX ledger_access_seq ON {schema}.ledger (seq) {ACCESS}")
    op.execute(f"""CREATE INDEX ledger_access_reader ON {schema}.ledger
                   ((record -> 'event' -> 'payload' ->> 'accessor_ref'), seq) {ACCESS}""")
    op.execute(f"""CREATE INDEX ledger_access_territory ON {schema}.ledger
                   ((record -> 'event' -> 'payload' ->> 'jurisdiction') text_pattern_ops) {ACCESS}""")


def downgrade(schema: str = "audit") -> None:
    for index in ("ledger_access_territory", "ledger_access_reader", "ledger_access_seq"):
        op.execute(f"DROP INDEX {schema}.{index}")
