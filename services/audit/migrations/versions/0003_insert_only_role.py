"""The audit service's own database role may only read and append (where it exists: the
local stack creates it; in production the DBA does, see deploy/README.md).

Revision ID: audit_0003
"""

from alembic import op

revision = "audit_0003"
down_revision = "audit_0002"

ROLE = "cpnet_audit"


def upgrade(schema: str = "audit") -> None:
    op.execute(f"""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
                GRANT USAGE ON SCHEMA audit TO {ROLE};
                GRANT SELECT, INSERT ON audit.ledger, audit.checkpoints, audit.processed_events TO {ROLE};
                -- the relay marks its (empty) outbox; the ledger itself is never updated
                GRANT SELECT, UPDATE ON audit.outbox TO {ROLE};
            END IF;
        END $$
    """)


def downgrade(schema: str = "audit") -> None:
    op.execute(f"""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
                REVOKE ALL ON ALL TABLES IN SCHEMA audit FROM {ROLE};
                REVOKE USAGE ON SCHEMA audit FROM {ROLE};
            END IF;
        END $$
    """)
