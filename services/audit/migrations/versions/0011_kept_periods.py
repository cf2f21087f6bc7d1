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
facts (EXECUTE of the functions is revoked from PUBLIC). The triggers now remake, of each case a
statement touches, only the kinds of fact its happenings bear on.

Revision ID: audit_0011
"""

from alembic import op

revision = "audit_0011"
down_revision = "audit_0010"

ROLE = "cpnet_audit"
# audit_0010's advisory lock: its class, and how many buckets of cases.
LOCK_CLASS = 2410
BUCKETS = 256

# The facts of the touched cases remade, each kind of fact only for the cases whose happenings of the
# statement bear on it (audit_0010 remade all three for every case touched): a case's spans and firsts
# from its reports, transfers, closures, reopenings, grades, assessments, plans and delivered services;
# its referrals' facts from referrals and their changes; its services' spans from services' changes.
# The lock and the rules are audit_0010's; its `refresh_case_facts`, which remakes all three, stays
# what a case's facts must equal.
_REFRESH = """
CREATE FUNCTION {s}.refresh_facts(spans uuid[], referrals uuid[], services uuid[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  PERFORM pg_advisory_xact_lock({lock}, bucket)
    FROM (SELECT DISTINCT abs(hashtext(c::text) % {buckets}) AS bucket
          FROM unnest(spans || referrals || services) AS c ORDER BY 1) AS sorted;
  IF cardinality(spans) > 0 THEN
    DELETE FROM {s}.case_spans WHERE case_id = ANY (spans);
    INSERT INTO {s}.case_spans
    WITH h AS MATERIALIZED (SELECT * FROM {s}.happenings WHERE case_id = ANY (spans)),
    changes AS (
      SELECT case_id, at,
             lead(at) OVER w AS until,
             array_agg(jurisdiction) FILTER (WHERE kind IN ('reported', 'transferred')) OVER r AS places,
             bool_or(kind = 'reported') OVER r AS reported,
             array_agg(kind) FILTER (WHERE kind IN ('closed', 'reopened')) OVER r AS ends
      FROM h WHERE kind IN ('reported', 'transferred', 'closed', 'reopened')
      WINDOW w AS (PARTITION BY case_id ORDER BY at, event_key COLLATE "C", kind COLLATE "C"),
             r AS (w ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    ),
    first_report AS (
      SELECT DISTINCT ON (case_id) case_id, at, age, categories FROM h WHERE kind = 'reported'
      ORDER BY case_id, at, event_key COLLATE "C"
    ),
    first_grade AS (
      SELECT DISTINCT ON (case_id) case_id, at, code FROM h WHERE kind = 'graded'
      ORDER BY case_id, at, event_key COLLATE "C"
    ),
    firsts AS (
      SELECT case_id,
             min(at) FILTER (WHERE kind = 'graded' AND code = 'red') AS red_at,
             min(at) FILTER (WHERE kind = 'needs_assessed') AS assessed_at,
             min(at) FILTER (WHERE kind = 'planned') AS planned_at,
             min(at) FILTER (WHERE kind = 'service_changed' AND code = 'delivered') AS delivered_at
      FROM h GROUP BY case_id
    )
    SELECT c.case_id, c.at, c.until, c.places[array_upper(c.places, 1)],
           c.reported AND coalesce(c.ends[array_upper(c.ends, 1)] <> 'closed', true),
           fr.at, fr.age, coalesce(fr.categories, '{{}}'), fg.at, fg.code,
           f.red_at, f.assessed_at, f.planned_at, f.delivered_at
    FROM changes c JOIN firsts f USING (case_id)
         LEFT JOIN first_report fr USING (case_id) LEFT JOIN first_grade fg USING (case_id)
    WHERE c.until IS NULL OR c.until > c.at;
  END IF;
  IF cardinality(referrals) > 0 THEN
    DELETE FROM {s}.referral_facts WHERE case_id = ANY (referrals);
    INSERT INTO {s}.referral_facts
    WITH h AS MATERIALIZED (SELECT * FROM {s}.happenings WHERE case_id = ANY (referrals)),
    answers AS (
      SELECT DISTINCT ON (case_id, ref) case_id, ref, at, code FROM h
      WHERE kind = 'referral_changed' AND code IS DISTINCT FROM 'created'
      ORDER BY case_id, ref, at, event_key COLLATE "C"
    ),
    states AS (
      SELECT case_id, ref, min(at) FILTER (WHERE code = 'declined') AS declined_at,
             min(at) FILTER (WHERE code = 'done') AS done_at
      FROM h WHERE kind = 'referral_changed' GROUP BY case_id, ref
    )
    SELECT s.event_key, s.case_id, s.ref, s.agency, s.at, s.due_at, coalesce(s.emergency, false),
           a.at, a.code, x.declined_at, x.done_at
    FROM h s LEFT JOIN answers a USING (case_id, ref) LEFT JOIN states x USING (case_id, ref)
    WHERE s.kind = 'referred';
  END IF;
  IF cardinality(services) > 0 THEN
    DELETE FROM {s}.service_spans WHERE case_id = ANY (services);
    INSERT INTO {s}.service_spans
    WITH h AS MATERIALIZED (SELECT * FROM {s}.happenings WHERE case_id = ANY (services))
    SELECT case_id, ref, since, until, code, due_at FROM (
      SELECT case_id, ref, at AS since, code, due_at,
             lead(at) OVER (PARTITION BY case_id, ref
                            ORDER BY at, event_key COLLATE "C", kind COLLATE "C") AS until
      FROM h WHERE kind = 'service_changed'
    ) AS changes
    WHERE until IS NULL OR until > since;
  END IF;
END
$fn$
"""

# The facts remade and the change marked, for the happenings a statement added or removed.
_CHANGED = """
CREATE FUNCTION {s}.happenings_changed(
  spans uuid[], referrals uuid[], services uuid[], earliest timestamptz, placed uuid[]
) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  PERFORM {s}.refresh_facts(spans, referrals, services);
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
    ARRAY(SELECT DISTINCT case_id FROM {table}
          WHERE kind IN ('reported', 'transferred', 'closed', 'reopened', 'graded', 'needs_assessed',
                         'planned') OR (kind = 'service_changed' AND code = 'delivered')),
    ARRAY(SELECT DISTINCT case_id FROM {table} WHERE kind IN ('referred', 'referral_changed')),
    ARRAY(SELECT DISTINCT case_id FROM {table} WHERE kind = 'service_changed'),
    (SELECT min(at) FROM {table}),
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
    op.execute(_REFRESH.format(s=s, lock=LOCK_CLASS, buckets=BUCKETS))
    op.execute(_CHANGED.format(s=s))
    _triggers(s, _NOW)
    # Only the triggers remake facts and mark changes (they run as the functions' owner).
    for function in (
        "refresh_case_facts(uuid[])",
        "refresh_facts(uuid[], uuid[], uuid[])",
        "happenings_changed(uuid[], uuid[], uuid[], timestamptz, uuid[])",
    ):
        op.execute(f"REVOKE EXECUTE ON FUNCTION {s}.{function} FROM PUBLIC")
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
    op.execute(f"DROP FUNCTION {s}.happenings_changed(uuid[], uuid[], uuid[], timestamptz, uuid[])")
    op.execute(f"DROP FUNCTION {s}.refresh_facts(uuid[], uuid[], uuid[])")
    op.execute(f"GRANT EXECUTE ON FUNCTION {s}.refresh_case_facts(uuid[]) TO PUBLIC")
    op.execute(f"DROP TABLE {s}.change_marks, {s}.kept_periods")
