"""The bulletin's figures counted by PostgreSQL: the rules of services/audit/indicators.py (`figures`)
said once more as set-based SQL over `audit.happenings`, so that a node of 100,000 cases is counted
without reading its happenings into Python. One statement a period (the month, and the month before
for the comparison column): the node's cases' happenings before the moment counted are read once
(a materialised CTE) and every table is one `GROUP BY` over them, returning only its cells. Medians come
back as the waits themselves (whole microseconds), so that Python takes them exactly as `figures` does.

`figures` stays the rule: `cpnet bulletin verify` recounts with it from the ledger, and
tests/integration/test_counted.py checks that both count the same on the same happenings."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.indicators import (
    DEPARTMENT_MEASURES,
    GRADE_DUE,
    HOME_VISIT_DUE,
    QUALITY,
    RESPONSES,
    TOTAL,
    Cell,
    Figures,
    Period,
    assembled,
)
from shared.territory.code import TerritoryCode

# Every table of one period: (table, row, column, count, waits in microseconds).
_COUNTS = text(
    r"""
WITH nc AS (
  SELECT DISTINCT case_id FROM audit.happenings
  WHERE kind IN ('reported', 'transferred') AND jurisdiction LIKE :node_like
),
h AS MATERIALIZED (
  SELECT h.event_key, h.kind, h.case_id, h.at, h.jurisdiction, h.code, h.agency, h.ref, h.child_ref,
         h.age, h.categories, h.emergency, h.due_at
  FROM audit.happenings h JOIN nc USING (case_id)
  WHERE h.at < :end
),
cols AS (
  SELECT * FROM unnest(CAST(:columns AS text[]), CAST(:likes AS text[])) AS c(col, like_)
),
place AS (
  SELECT DISTINCT ON (case_id) case_id, jurisdiction AS place FROM h
  WHERE kind IN ('reported', 'transferred')
  ORDER BY case_id, at DESC, event_key DESC, kind DESC
),
placed AS MATERIALIZED (
  SELECT place.case_id, cols.col FROM place JOIN cols ON place.place LIKE cols.like_
),
first_report AS MATERIALIZED (
  SELECT DISTINCT ON (case_id) case_id, at, age, categories FROM h
  WHERE kind = 'reported' ORDER BY case_id, at, event_key, kind
),
first_grade AS MATERIALIZED (
  SELECT DISTINCT ON (case_id) case_id, at, code FROM h
  WHERE kind = 'graded' ORDER BY case_id, at, event_key, kind
),
facts AS MATERIALIZED (
  SELECT case_id,
         min(at) FILTER (WHERE kind = 'needs_assessed') AS assessed_at,
         min(at) FILTER (WHERE kind = 'planned') AS planned_at,
         min(at) FILTER (WHERE kind = 'service_changed' AND code = 'delivered') AS delivered_at,
         min(at) FILTER (WHERE kind = 'graded' AND code = 'red') AS red_at,
         (array_agg(kind ORDER BY at DESC, event_key DESC, kind DESC)
            FILTER (WHERE kind IN ('closed', 'reopened')))[1] AS last_end
  FROM h GROUP BY case_id
),
first_answer AS MATERIALIZED (
  SELECT DISTINCT ON (ref) ref, at, code FROM h
  WHERE kind = 'referral_changed' AND code IS DISTINCT FROM 'created'
  ORDER BY ref, at, event_key, kind
),
new AS MATERIALIZED (
  SELECT placed.case_id, placed.col, fr.at AS opened, fr.age, fr.categories
  FROM placed JOIN first_report fr USING (case_id) WHERE fr.at >= :start
),
waits AS (
  SELECT new.col, w.row_, w.done, new.opened
  FROM new LEFT JOIN first_grade fg USING (case_id) JOIN facts f USING (case_id),
  LATERAL (VALUES ('graded', fg.at), ('needs_assessed', f.assessed_at), ('planned', f.planned_at),
                  ('service_delivered', f.delivered_at)) AS w(row_, done)
  WHERE w.done IS NOT NULL
),
open_cases AS (
  SELECT placed.col, fr.at AS opened, fr.age, f.red_at, f.assessed_at, fg.at AS graded_at
  FROM placed JOIN first_report fr USING (case_id) JOIN facts f USING (case_id)
       LEFT JOIN first_grade fg USING (case_id)
  WHERE f.last_end IS NULL OR f.last_end = 'reopened'
),
lacks AS (
  SELECT col,
         (red_at IS NOT NULL AND red_at + :home_visit_due <= :end
          AND NOT (assessed_at IS NOT NULL AND assessed_at <= red_at + :home_visit_due)) AS no_visit,
         (opened + :grade_due <= :end AND graded_at IS NULL) AS not_graded,
         (age IS NULL) AS no_age
  FROM open_cases
),
reports AS (
  SELECT at, jurisdiction, code, child_ref,
         lag(at) OVER (PARTITION BY child_ref ORDER BY at, event_key, kind) AS before_at
  FROM h WHERE kind = 'reported'
),
last_service AS (
  SELECT DISTINCT ON (case_id, ref) case_id, ref, code, due_at FROM h
  WHERE kind = 'service_changed' ORDER BY case_id, ref, at DESC, event_key DESC, kind DESC
),
referral_states AS (
  SELECT ref, bool_or(code = 'declined') AS declined, bool_or(code = 'done') AS done
  FROM h WHERE kind = 'referral_changed' GROUP BY ref
),
item_done AS (
  SELECT ref, min(at) AS at FROM h WHERE kind = 'action_item' AND code = 'done' GROUP BY ref
)
SELECT 'reports_by_channel', coalesce(r.code, 'unknown'), cols.col, count(*), NULL::bigint[]
  FROM reports r JOIN cols ON r.jurisdiction LIKE cols.like_ WHERE r.at >= :start GROUP BY 2, 3
UNION ALL
SELECT 'reported_again', 'reports', cols.col, count(*), NULL
  FROM reports r JOIN cols ON r.jurisdiction LIKE cols.like_ WHERE r.at >= :start GROUP BY 3
UNION ALL
SELECT 'reported_again', 'reported_again_90_days', cols.col, count(*), NULL
  FROM reports r JOIN cols ON r.jurisdiction LIKE cols.like_
  WHERE r.at >= :start AND r.child_ref IS NOT NULL AND r.before_at >= r.at - interval '90 days'
  GROUP BY 3
UNION ALL
SELECT 'new_cases_by_grade', coalesce(fg.code, 'not_graded'), new.col, count(*), NULL
  FROM new LEFT JOIN first_grade fg USING (case_id) GROUP BY 2, 3
UNION ALL
SELECT 'new_cases_by_category', category, new.col, count(*), NULL
  FROM new, unnest(new.categories) AS category GROUP BY 2, 3
UNION ALL
SELECT 'new_cases_by_age',
       CASE WHEN age IS NULL THEN 'unknown' WHEN age <= 5 THEN '0-5' WHEN age <= 11 THEN '6-11'
            WHEN age <= 14 THEN '12-14' ELSE '15-17' END,
       new.col, count(*), NULL
  FROM new GROUP BY 2, 3
UNION ALL
SELECT 'response_hours', row_, col, NULL,
       array_agg((extract(epoch FROM greatest(done, opened) - opened) * 1000000)::bigint)
  FROM waits GROUP BY 2, 3
UNION ALL
SELECT 'response_hours', 'police_acknowledged', new.col, NULL,
       array_agg((extract(epoch FROM greatest(a.at, s.at) - s.at) * 1000000)::bigint)
  FROM new JOIN h s ON s.case_id = new.case_id JOIN first_answer a ON a.ref = s.ref
  WHERE s.kind = 'referred' AND s.agency = 'police' AND s.emergency AND s.at >= :start
  GROUP BY 3
UNION ALL
SELECT 'overdue_at_end', 'referrals', placed.col, count(*), NULL
  FROM placed JOIN h r ON r.case_id = placed.case_id LEFT JOIN first_answer a ON a.ref = r.ref
  WHERE r.kind = 'referred' AND r.due_at < :end AND a.ref IS NULL
  GROUP BY 3
UNION ALL
SELECT 'overdue_at_end', 'services', placed.col, count(*), NULL
  FROM placed JOIN last_service s USING (case_id)
  WHERE s.code IN ('planned', 'accepted', 'in_progress') AND s.due_at < :end
  GROUP BY 3
UNION ALL
SELECT 'data_quality', q.row_, lacks.col, count(*) FILTER (WHERE q.lacking), NULL
  FROM lacks, LATERAL (VALUES ('red_without_home_visit_72h', no_visit), ('not_graded_after_24h', not_graded),
                              ('no_age', no_age), ('open_cases', true),
                              ('clean', NOT (no_visit OR not_graded OR no_age))) AS q(row_, lacking)
  GROUP BY 2, 3
UNION ALL
SELECT 'closures_by_reason', coalesce(c.code, 'unknown'), placed.col, count(*), NULL
  FROM h c JOIN placed USING (case_id) WHERE c.kind = 'closed' AND c.at >= :start GROUP BY 2, 3
UNION ALL
SELECT 'departments:' || d.measure, s.agency, placed.col, count(*) FILTER (WHERE d.counted),
       array_agg((extract(epoch FROM greatest(a.at, s.at) - s.at) * 1000000)::bigint)
         FILTER (WHERE d.measure = 'received' AND a.ref IS NOT NULL)
  FROM h s JOIN placed ON placed.case_id = s.case_id AND placed.col = :total
       LEFT JOIN first_answer a ON a.ref = s.ref LEFT JOIN referral_states rs ON rs.ref = s.ref,
  LATERAL (VALUES ('received', true),
                  ('acknowledged_in_time', a.at <= s.due_at AND a.code IS DISTINCT FROM 'declined'),
                  ('declined', coalesce(rs.declined, false)),
                  ('done', coalesce(rs.done, false))) AS d(measure, counted)
  WHERE s.kind = 'referred' AND s.at >= :start
  GROUP BY 1, 2, 3
UNION ALL
SELECT 'departments:' || d.measure, i.agency, placed.col, count(*) FILTER (WHERE d.counted), NULL
  FROM h i JOIN placed ON placed.case_id = i.case_id AND placed.col = :total
       LEFT JOIN item_done done ON done.ref = i.ref,
  LATERAL (VALUES ('action_items', true),
                  ('action_items_done_in_time', done.at IS NOT NULL AND done.at <= i.due_at))
    AS d(measure, counted)
  WHERE i.kind = 'action_item' AND i.code = 'open' AND i.at >= :start
  GROUP BY 1, 2, 3
"""
)


def _like(code: str) -> str:
    """The LIKE pattern of a node's subtree (its prefix is digits only)."""
    return TerritoryCode(code).prefix + "%"


async def _period(
    session: AsyncSession,
    node: str,
    columns: dict[str, str],
    start: datetime,
    end: datetime,
) -> dict[tuple[str, str, str], tuple[int | None, list[int] | None]]:
    # The CTEs' row counts are unknown to the planner, which guesses a handful and would join them by
    # nested loops (a county's bulletin took minutes): every join here is a hash join of whole sets.
    # Compiling the statement (JIT) costs more than running it, and its sorts fit in memory.
    await session.execute(text("SET LOCAL enable_nestloop = off"))
    await session.execute(text("SET LOCAL jit = off"))
    await session.execute(text("SET LOCAL work_mem = '64MB'"))
    rows = await session.execute(
        _COUNTS,
        {
            "node_like": _like(node),
            "columns": list(columns),
            "likes": [_like(code) for code in columns.values()],
            "start": start,
            "end": end,
            "total": TOTAL,
            "home_visit_due": HOME_VISIT_DUE,
            "grade_due": GRADE_DUE,
        },
    )
    return {(table, row, column): (count, waits) for table, row, column, count, waits in rows}


def _median(waits: list[int] | None) -> Cell:
    """As `figures` takes a median: of the waits in hours, as timedelta.total_seconds() gives them."""
    hours = [us / 10**6 / 3600 for us in waits or ()]
    return Cell(round(statistics.median(hours), 1) if hours else None, cases=len(hours))


def _column(found: dict, column: str) -> dict[str, dict[str, Cell]]:
    """One column's tables as `figures` counts them: each row of a fixed vocabulary present."""
    out: dict[str, dict[str, Cell]] = defaultdict(dict)
    for (table, row, col), (count, waits) in found.items():
        if col != column or table.startswith("departments:"):
            continue
        out[table][row] = _median(waits) if table == "response_hours" else Cell(count)
    for row in RESPONSES:
        out["response_hours"].setdefault(row, _median(None))
    quality = out["data_quality"]
    size = quality.pop("open_cases", Cell(0)).value
    clean = quality.pop("clean", Cell(0)).value
    for rule in QUALITY[:3]:
        quality.setdefault(rule, Cell(0))
    quality["open_cases"] = Cell(size)
    quality["quality_score"] = Cell(round(100 * clean / size, 1) if size else None, cases=size)
    return out


def _departments(found: dict) -> dict[str, dict[str, Cell]]:
    rows: dict[str, dict[str, Cell]] = defaultdict(dict)
    for (table, agency, col), (count, waits) in found.items():
        if col != TOTAL or not table.startswith("departments:"):
            continue
        measure = table.split(":", 1)[1]
        rows[agency][measure] = Cell(count)
        if measure == "received":
            rows[agency]["median_hours_to_acknowledge"] = _median(waits)
    for row in rows.values():
        for measure in DEPARTMENT_MEASURES:
            row.setdefault(measure, _median(None) if measure == "median_hours_to_acknowledge" else Cell(0))
    return rows


async def counted_figures(
    session: AsyncSession, node: str, children: Sequence[str], period: Period, as_of: datetime
) -> Figures:
    """What `figures(node_happenings(session, node, as_of), node, children, period, as_of)` gives,
    counted in the database."""
    end = min(period.end, as_of)
    before = period.before()
    now = await _period(session, node, {**{c: c for c in children}, TOTAL: node}, period.start, end)
    then = await _period(session, node, {TOTAL: node}, before.start, before.end)
    counted = {column: _column(now, column) for column in (*children, TOTAL)}
    counted["previous"] = _column(then, TOTAL)
    return assembled(node, period, end, counted, _departments(now))


__all__ = ["counted_figures"]
