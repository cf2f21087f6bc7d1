"""A month that is over is counted once (issue 24's 200 ms): its counts are kept with the snapshot they
were counted in, and used again for as long as no change of the happenings since could alter them.

- `change_marks`: one row a statement that adds or removes happenings, written by the same triggers
  that remake the cases' facts (audit_0010), in the same transaction: the writer's transaction id and
  the change's reach — the earliest moment before which a period must end to be untouched by it. That
  is the earliest happening's moment, or, for a report or a transfer, the case's first report's when
  earlier: whether a case was ever in a node decides whether an earlier report of the child counts for
  "reported again within 90 days", so a case moved or reported later changes the months since its first
  report.
- `kept_periods`: a node's counts of a period that was over when counted (services/audit/counted.py),
  with the snapshot they saw. They hold for a reader when no change mark with a reach before the
  period's end was written by a transaction that snapshot did not see: the marks are committed with
  their happenings, so the test is exact whatever order writers commit in (a sequence or a clock
  would not be). Counts found to hold are stamped with the newer snapshot, so that the marks to look
  at stay few; marks a day old that no kept snapshot can miss are deleted, and counts not read for a
  month.

The audit role reads and deletes the marks and keeps counts; only the triggers write marks and remake
facts (EXECUTE of `refresh_case_facts` and `happenings_changed` is revoked from PUBLIC).

Revision ID: audit_0011
"""

from alembic import op

revision = "audit_0011"
down_revision = "audit_0010"

ROLE = "cpnet_audit"

# The facts remade and the change marked, for the happenings a statement added or removed.
_CHANGED = """
CREATE FUNCTION {s}.happenings_changed(cases uuid[], earliest timestamptz, placed uuid[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  PERFORM {s}.refresh_case_facts(cases);
  IF earliest IS NOT NULL THEN
    INSERT INTO {s}.change_marks (xid, reach, made_at)
    SELECT pg_current_xact_id()::text::bigint, least(earliest, min(s.opened_at)), clock_timestamp()
    FROM {s}.case_spans s WHERE s.case_id = ANY (placed);
  END IF;
END
$fn$
"""

# A trigger function, of the rows a statement added (`added`) or removed (`gone`): now, and as
# audit_0010 made it.
_TRIGGER = """
CREATE OR REPLACE FUNCTION {s}.happenings_{what}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  PERFORM {call};
  RETURN NULL;
END
$fn$
"""
_NOW = """{s}.happenings_changed(
    ARRAY(SELECT DISTINCT case_id FROM {table}), (SELECT min(at) FROM {table}),
    ARRAY(SELECT DISTINCT case_id FROM {table} WHERE kind IN ('reported', 'transferred')))"""
_BEFORE = "{s}.refresh_case_facts(ARRAY(SELECT DISTINCT case_id FROM {table}))"


def _triggers(s: str, call: str) -> None:
    for what, table in (("added", "added"), ("removed", "gone")):
        op.execute(_TRIGGER.format(s=s, what=what, call=call.format(s=s, table=table)))


def upgrade(schema: str = "audit") -> None:
    s = schema
    for statement in f"""
        CREATE TABLE {s}.change_marks (
            xid bigint NOT NULL, reach timestamptz NOT NULL, made_at timestamptz NOT NULL
        );
        CREATE INDEX change_marks_xid ON {s}.change_marks (xid);
        CREATE INDEX change_marks_made ON {s}.change_marks (made_at);
        CREATE TABLE {s}.kept_periods (
            node text NOT NULL, start timestamptz NOT NULL, "end" timestamptz NOT NULL,
            children text[] NOT NULL, counted jsonb NOT NULL, snapshot text NOT NULL,
            kept_at timestamptz NOT NULL,
            PRIMARY KEY (node, start, "end", children)
        )
    """.split(";"):
        op.execute(statement)
    op.execute(_CHANGED.format(s=s))
    _triggers(s, _NOW)
    # Only the triggers remake facts and mark changes (they run as the functions' owner).
    op.execute(f"REVOKE EXECUTE ON FUNCTION {s}.refresh_case_facts(uuid[]) FROM PUBLIC")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {s}.happenings_changed(uuid[], timestamptz, uuid[]) FROM PUBLIC")
    op.execute(f"""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
                GRANT SELECT, DELETE ON {s}.change_marks TO {ROLE};
                GRANT SELECT, INSERT, UPDATE, DELETE ON {s}.kept_periods TO {ROLE};
            END IF;
        END $$
    """)


def downgrade(schema: str = "audit") -> None:
    s = schema
    _triggers(s, _BEFORE)
    op.execute(f"DROP FUNCTION {s}.happenings_changed(uuid[], timestamptz, uuid[])")
    op.execute(f"GRANT EXECUTE ON FUNCTION {s}.refresh_case_facts(uuid[]) TO PUBLIC")
    op.execute(f"DROP TABLE {s}.change_marks, {s}.kept_periods")
