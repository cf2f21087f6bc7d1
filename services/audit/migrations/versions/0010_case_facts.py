"""What each case is at any moment, kept as its happenings are written (issue 24's 200 ms): the bulletin
reads one row a case instead of walking every happening of the node.

- `case_spans`: a case's place and whether it is open, from each report, transfer, closure or reopening
  until the next (a span is in force at a moment E when it began before E and its successor did not),
  with the case's firsts beside it (its first report's moment, age and categories; its first grade and
  that grade; its first red grade, needs assessment, plan and delivered service). A first counts at E
  when it happened before E: the first before E is the first ever whenever that is before E.
- `referral_facts`: each referral made, its deadline, its first answer, and when it was first declined
  and first done.
- `service_spans`: each service's state from each change until the next.

They are made from the happenings alone, by the database, in the statement that adds or removes the
happenings (statement triggers with transition tables), under an advisory lock per bucket of cases: two
writers of one case's happenings remake it one after the other, each seeing the other's happenings. The
audit role may only read them; the trigger's functions remake them with their owner's rights. The
rules are those of services/audit/indicators.py (`figures`); tests/integration/test_counted.py
holds the bulletin counted from these tables to the same cells.

Revision ID: audit_0010
"""

from alembic import op

revision = "audit_0010"
down_revision = "audit_0009"

ROLE = "cpnet_audit"
# The advisory lock's class (two-int keys are a key space apart from the chains' bigint keys), and how
# many locks of it a case's id falls into: a statement of 100,000 cases takes at most this many locks.
LOCK_CLASS = 2410
BUCKETS = 256

# A case's facts remade from its happenings (the order of `figures`: moment, event key, kind).
_REFRESH = """
CREATE FUNCTION {s}.refresh_case_facts(cases uuid[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  PERFORM pg_advisory_xact_lock({lock}, bucket)
    FROM (SELECT DISTINCT abs(hashtext(c::text) % {buckets}) AS bucket FROM unnest(cases) AS c
          ORDER BY 1) AS sorted;
  DELETE FROM {s}.case_spans WHERE case_id = ANY (cases);
  DELETE FROM {s}.referral_facts WHERE case_id = ANY (cases);
  DELETE FROM {s}.service_spans WHERE case_id = ANY (cases);

  INSERT INTO {s}.case_spans
  WITH h AS MATERIALIZED (SELECT * FROM {s}.happenings WHERE case_id = ANY (cases)),
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

  INSERT INTO {s}.referral_facts
  WITH h AS MATERIALIZED (SELECT * FROM {s}.happenings WHERE case_id = ANY (cases)),
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

  INSERT INTO {s}.service_spans
  WITH h AS MATERIALIZED (SELECT * FROM {s}.happenings WHERE case_id = ANY (cases))
  SELECT case_id, ref, since, until, code, due_at FROM (
    SELECT case_id, ref, at AS since, code, due_at,
           lead(at) OVER (PARTITION BY case_id, ref
                          ORDER BY at, event_key COLLATE "C", kind COLLATE "C") AS until
    FROM h WHERE kind = 'service_changed'
  ) AS changes
  WHERE until IS NULL OR until > since;
END
$fn$
"""

_TRIGGERS = """
CREATE FUNCTION {s}.happenings_added() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  PERFORM {s}.refresh_case_facts(ARRAY(SELECT DISTINCT case_id FROM added));
  RETURN NULL;
END
$fn$

CREATE FUNCTION {s}.happenings_removed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  PERFORM {s}.refresh_case_facts(ARRAY(SELECT DISTINCT case_id FROM gone));
  RETURN NULL;
END
$fn$

CREATE TRIGGER happenings_added AFTER INSERT ON {s}.happenings
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION {s}.happenings_added()

CREATE TRIGGER happenings_removed AFTER DELETE ON {s}.happenings
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION {s}.happenings_removed()
"""


def upgrade(schema: str = "audit") -> None:
    s = schema
    for statement in f"""
        CREATE TABLE {s}.case_spans (
            case_id uuid NOT NULL, since timestamptz NOT NULL, until timestamptz,
            place text, open boolean NOT NULL,
            opened_at timestamptz, age integer, categories text[] NOT NULL,
            graded_at timestamptz, grade text, red_at timestamptz,
            assessed_at timestamptz, planned_at timestamptz, delivered_at timestamptz,
            PRIMARY KEY (case_id, since)
        );
        CREATE INDEX case_spans_place ON {s}.case_spans (place text_pattern_ops);
        CREATE INDEX case_spans_opened ON {s}.case_spans (opened_at);
        CREATE TABLE {s}.referral_facts (
            event_key text PRIMARY KEY, case_id uuid NOT NULL, ref uuid, agency text,
            sent_at timestamptz NOT NULL, due_at timestamptz, emergency boolean NOT NULL,
            answered_at timestamptz, answer_code text, declined_at timestamptz, done_at timestamptz
        );
        CREATE INDEX referral_facts_case ON {s}.referral_facts (case_id);
        CREATE INDEX referral_facts_sent ON {s}.referral_facts (sent_at);
        CREATE TABLE {s}.service_spans (
            case_id uuid NOT NULL, ref uuid, since timestamptz NOT NULL, until timestamptz,
            code text, due_at timestamptz
        );
        CREATE INDEX service_spans_case ON {s}.service_spans (case_id);
        CREATE INDEX happenings_kind_at ON {s}.happenings (kind, at);
        CREATE INDEX happenings_child ON {s}.happenings (child_ref, at) WHERE kind = 'reported';
        CREATE INDEX happenings_item ON {s}.happenings (ref) WHERE kind = 'action_item'
    """.split(";"):
        op.execute(statement)
    op.execute(_REFRESH.format(s=s, lock=LOCK_CLASS, buckets=BUCKETS))
    for statement in _TRIGGERS.format(s=s).split("\n\n"):
        op.execute(statement)
    op.execute(f"SELECT {s}.refresh_case_facts(ARRAY(SELECT DISTINCT case_id FROM {s}.happenings))")
    op.execute(f"""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
                GRANT SELECT ON {s}.case_spans, {s}.referral_facts, {s}.service_spans TO {ROLE};
            END IF;
        END $$
    """)


def downgrade(schema: str = "audit") -> None:
    s = schema
    for statement in (
        f"DROP TRIGGER happenings_added ON {s}.happenings",
        f"DROP TRIGGER happenings_removed ON {s}.happenings",
        f"DROP FUNCTION {s}.happenings_added(), {s}.happenings_removed(), {s}.refresh_case_facts(uuid[])",
        f"DROP TABLE {s}.case_spans, {s}.referral_facts, {s}.service_spans",
        f"DROP INDEX {s}.happenings_kind_at, {s}.happenings_child, {s}.happenings_item",
    ):
        op.execute(statement)
