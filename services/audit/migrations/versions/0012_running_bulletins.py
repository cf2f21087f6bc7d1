"""The running month's bulletin counted at most a few minutes ago (issue 24's 200 ms for the city).

A month that is over is counted once (audit_0011); the month running changes with every report and
with the clock itself (a referral falls overdue without any event), so its counts cannot be kept by
the marks. `running_bulletins` keeps, for a node and its columns, the running month's bulletin last
counted: its figures, the moment they were counted as of and the ledger's heads read in the same
snapshot — a whole bulletin, which `cpnet bulletin verify` recounts from the ledger as exactly as one
counted on asking. Audit answers it while it is younger than `CPNET_AUDIT_RUNNING_FRESH_S` and its
sweep counts it again before it gets older (services/audit/running.py).

Revision ID: audit_0012
"""

from alembic import op

revision = "audit_0012"
down_revision = "audit_0011"

ROLE = "cpnet_audit"


def upgrade(schema: str = "audit") -> None:
    s = schema
    op.execute(f"""
        CREATE TABLE {s}.running_bulletins (
            node text NOT NULL, children text[] NOT NULL, start timestamptz NOT NULL,
            as_of timestamptz NOT NULL, heads jsonb NOT NULL, figures jsonb NOT NULL,
            PRIMARY KEY (node, children)
        )
    """)
    op.execute(f"""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
                GRANT SELECT, INSERT, UPDATE, DELETE ON {s}.running_bulletins TO {ROLE};
            END IF;
        END $$
    """)


def downgrade(schema: str = "audit") -> None:
    op.execute(f"DROP TABLE {schema}.running_bulletins")
