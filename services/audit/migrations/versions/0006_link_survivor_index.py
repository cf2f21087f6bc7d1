"""An index for the identifications on the case that remains: `child.linked` and `child.link_undone`
are keyed by the case merged away; the surviving case's timeline finds them by `surviving_case_id`.

Revision ID: audit_0006
"""

from alembic import op

revision = "audit_0006"
down_revision = "audit_0005"


def upgrade(schema: str = "audit") -> None:
    op.execute(f"""CREATE INDEX ledger_link_survivor ON {schema}.ledger
                   ((record -> 'event' -> 'payload' ->> 'surviving_case_id'))
                   WHERE event_type IN ('child.linked', 'child.link_undone')""")


def downgrade(schema: str = "audit") -> None:
    op.execute(f"DROP INDEX {schema}.ledger_link_survivor")
