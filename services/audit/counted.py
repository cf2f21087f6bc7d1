"""The bulletin's figures counted by PostgreSQL: the rules of services/audit/indicators.py (`figures`)
said once more as set-based SQL, so that a node of 100,000 cases is counted without reading its
happenings at all: from the facts the database keeps of each case as the happenings are written
(audit_0010: a case's place and open state over time with its firsts, each referral's answers, each
service's states over time), and the happenings of the period alone (its reports, closures, action
items). One statement a period (the month, and the month before for the comparison column), every
table one `GROUP BY`, returning only its cells. Medians come back as the waits themselves (whole
microseconds), so that Python takes them exactly as `figures` does.

`figures` stays the rule: `cpnet bulletin verify` recounts with it from the ledger, and
tests/integration/test_counted.py checks that both count the same on the same happenings."""

from __future__ import annotations

import asyncio
import json
import re
import statistics
from collections import defaultdict
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
from services.audit.quality import OPEN_LACKING
from shared.territory.code import TerritoryCode

# Every table of one period: (table, row, column, count, waits in microseconds), counted from the facts
# audit_0010 keeps (a case's span in force at the period's end is the one begun last before it). Every
# count groups by GROUPING SETS, by column and in all (the node's total). A row's column is the prefix of
# its place at the children's level (`col` below), named as the child whose prefix it is once counted
# (none when it sits at the node itself: it counts in the total only).
_COL = "left({p}, :k)"
# Where the case of a row was at the period's end, and its column (the row left out when not within the node):
# the case's span in force then, by its key.
_PLACED = """LATERAL (
  SELECT {col} AS col FROM (
    SELECT p.place FROM audit.case_spans p
    WHERE p.case_id = {r}.case_id AND p.since < :end ORDER BY p.since DESC LIMIT 1
  ) AS p WHERE p.place LIKE :node_like
) AS cases"""


def _sql(statement: str) -> str:
    statement = statement.replace("@OPEN_LACKING", OPEN_LACKING)
    statement = re.sub(
        r"@PLACED\((\w+)\)", lambda m: _PLACED.format(r=m[1], col=_COL.format(p="p.place")), statement
    )
    return re.sub(r"@COL\(([\w.]+)\)", lambda m: _COL.format(p=m[1]), statement)


# A period is counted by two statements, which may run at the same time on two connections sharing one
# snapshot: what the period's new cases, reports and open cases say, and what its rows (referrals,
# services, closures, action items) say, each row's case placed where it was at the period's end.
_MAPPED = """SELECT table_, row_, CASE WHEN total = 1 THEN :total ELSE child.code END, n, waits
  FROM counted
  LEFT JOIN unnest(CAST(:columns AS text[]), CAST(:prefixes AS text[])) AS child(code, prefix)
    ON counted.total = 0 AND child.prefix = counted.col
  WHERE total = 1 OR child.code IS NOT NULL
"""
_COUNTS = (
    text(
        _sql(
            r"""
WITH new AS MATERIALIZED (
  SELECT s.*, @COL(s.place) AS col FROM audit.case_spans s
  WHERE s.opened_at >= :start AND s.opened_at < :end
    AND s.since < :end AND (s.until IS NULL OR s.until >= :end) AND s.place LIKE :node_like
),
reports AS MATERIALIZED (
  SELECT r.at, r.code, r.child_ref, r.event_key, @COL(r.jurisdiction) AS col FROM audit.happenings r
  WHERE r.kind = 'reported' AND r.at >= :start AND r.at < :end
    AND left(r.jurisdiction, length(:node_prefix)) = :node_prefix  -- not by the place's index
),
again AS (  -- the last earlier report of the child in the node is within 90 days: one is
  SELECT r.col FROM reports r
  WHERE r.child_ref IS NOT NULL AND EXISTS (
    SELECT 1 FROM audit.happenings p
    WHERE p.kind = 'reported' AND p.child_ref = r.child_ref
      AND p.at >= r.at - interval '90 days' AND p.at <= r.at
      AND (p.at < r.at OR p.event_key COLLATE "C" < r.event_key COLLATE "C")
      AND (p.jurisdiction LIKE :node_like OR EXISTS (
             SELECT 1 FROM audit.happenings q
             WHERE q.case_id = p.case_id AND q.kind IN ('reported', 'transferred')
               AND q.jurisdiction LIKE :node_like)))
),
quality AS (
  SELECT col, grouping(col) AS total, count(*) AS open_cases,
         count(red_without_home_visit_72h) AS no_visit, count(not_graded_after_24h) AS not_graded,
         count(no_age) AS no_age,
         count(*) FILTER (WHERE red_without_home_visit_72h IS NULL AND not_graded_after_24h IS NULL
                                AND no_age IS NULL) AS clean
  FROM (SELECT @COL(place) AS col, * FROM (@OPEN_LACKING) AS cases) AS lacks
  GROUP BY GROUPING SETS ((col), ())
),
counted AS (
  SELECT 'reports_by_channel' AS table_, coalesce(code, 'unknown') AS row_, col, grouping(col) AS total,
         count(*) AS n, NULL::bigint[] AS waits
    FROM reports GROUP BY GROUPING SETS ((2, col), (2))
  UNION ALL
  SELECT 'reported_again', 'reports', col, grouping(col), count(*), NULL
    FROM reports GROUP BY GROUPING SETS ((col), ())
  UNION ALL
  SELECT 'reported_again', 'reported_again_90_days', col, grouping(col), count(*), NULL
    FROM again GROUP BY GROUPING SETS ((col), ())
  UNION ALL
  SELECT 'new_cases_by_grade', CASE WHEN graded_at < :end THEN coalesce(grade, 'not_graded')
                                    ELSE 'not_graded' END,
         col, grouping(col), count(*), NULL
    FROM new GROUP BY GROUPING SETS ((2, col), (2))
  UNION ALL
  SELECT 'new_cases_by_category', category, col, grouping(col), count(*), NULL
    FROM new, unnest(new.categories) AS category GROUP BY GROUPING SETS ((2, col), (2))
  UNION ALL
  SELECT 'new_cases_by_age',
         CASE WHEN age IS NULL THEN 'unknown' WHEN age <= 5 THEN '0-5' WHEN age <= 11 THEN '6-11'
              WHEN age <= 14 THEN '12-14' ELSE '15-17' END,
         col, grouping(col), count(*), NULL
    FROM new GROUP BY GROUPING SETS ((2, col), (2))
  UNION ALL
  SELECT 'response_hours', w.row_, col, grouping(col), NULL,
         array_agg((extract(epoch FROM greatest(w.done, new.opened_at) - new.opened_at) * 1000000)::bigint)
    FROM new, LATERAL (VALUES ('graded', graded_at), ('needs_assessed', assessed_at),
                              ('planned', planned_at), ('service_delivered', delivered_at)) AS w(row_, done)
    WHERE w.done < :end
    GROUP BY GROUPING SETS ((2, col), (2))
  UNION ALL
  SELECT 'response_hours', 'police_acknowledged', new.col, grouping(new.col), NULL,
         array_agg((extract(epoch FROM greatest(r.answered_at, r.sent_at) - r.sent_at) * 1000000)::bigint)
    FROM new JOIN audit.referral_facts r USING (case_id)
    WHERE r.agency = 'police' AND r.emergency AND r.sent_at >= :start AND r.sent_at < :end
      AND r.answered_at < :end
    GROUP BY GROUPING SETS ((new.col), ())
  UNION ALL
  SELECT 'data_quality', q.row_, col, total, q.n, NULL
    FROM quality,
         LATERAL (VALUES ('red_without_home_visit_72h', no_visit), ('not_graded_after_24h', not_graded),
                         ('no_age', no_age), ('open_cases', open_cases), ('clean', clean)) AS q(row_, n)
)
"""
            + _MAPPED
        )
    ),
    text(
        _sql(
            r"""
WITH counted AS (
  SELECT 'overdue_at_end' AS table_, 'referrals' AS row_, cases.col, grouping(cases.col) AS total,
         count(*) AS n, NULL::bigint[] AS waits
    FROM audit.referral_facts r, @PLACED(r)
    WHERE r.sent_at < :end AND r.due_at < :end AND NOT coalesce(r.answered_at < :end, false)
    GROUP BY GROUPING SETS ((cases.col), ())
  UNION ALL
  SELECT 'overdue_at_end', 'services', cases.col, grouping(cases.col), count(*), NULL
    FROM audit.service_spans s, @PLACED(s)
    WHERE s.since < :end AND (s.until IS NULL OR s.until >= :end)
      AND s.code IN ('planned', 'accepted', 'in_progress') AND s.due_at < :end
    GROUP BY GROUPING SETS ((cases.col), ())
  UNION ALL
  SELECT 'closures_by_reason', coalesce(c.code, 'unknown'), cases.col, grouping(cases.col), count(*), NULL
    FROM audit.happenings c, @PLACED(c)
    WHERE c.kind = 'closed' AND c.at >= :start AND c.at < :end
    GROUP BY GROUPING SETS ((2, cases.col), (2))
)
"""
            + _MAPPED
            + r"""UNION ALL
SELECT 'departments:' || d.measure, a.agency, :total, d.n, d.waits
  FROM (
    SELECT r.agency, count(*) AS received,
           count(*) FILTER (WHERE r.answered_at < :end AND r.answered_at <= r.due_at
                              AND r.answer_code IS DISTINCT FROM 'declined') AS in_time,
           count(*) FILTER (WHERE r.declined_at < :end) AS declined,
           count(*) FILTER (WHERE r.done_at < :end) AS done,
           array_agg((extract(epoch FROM greatest(r.answered_at, r.sent_at) - r.sent_at) * 1000000)::bigint)
             FILTER (WHERE r.answered_at < :end) AS waits
    FROM audit.referral_facts r, @PLACED(r)
    WHERE r.sent_at >= :start AND r.sent_at < :end
    GROUP BY r.agency
  ) AS a,
  LATERAL (VALUES ('received', a.received, a.waits), ('acknowledged_in_time', a.in_time, NULL),
                  ('declined', a.declined, NULL), ('done', a.done, NULL)) AS d(measure, n, waits)
UNION ALL
SELECT 'departments:' || d.measure, i.agency, :total, count(*) FILTER (WHERE d.counted), NULL
  FROM audit.happenings i, @PLACED(i),
  LATERAL (VALUES ('action_items', true),
                  ('action_items_done_in_time', EXISTS (
                     SELECT 1 FROM audit.happenings d
                     WHERE d.kind = 'action_item' AND d.ref = i.ref AND d.case_id = i.case_id
                       AND d.code = 'done' AND d.at < :end AND d.at <= i.due_at))) AS d(measure, counted)
  WHERE i.kind = 'action_item' AND i.code = 'open' AND i.at >= :start AND i.at < :end
  GROUP BY 1, 2
"""
        )
    ),
)


def _like(code: str) -> str:
    """The LIKE pattern of a node's subtree (its prefix is digits only)."""
    return TerritoryCode(code).prefix + "%"


@dataclass(frozen=True)
class _Wanted:
    """A period's counts for a node: its columns (the node's children; none for the node's total
    alone) and whether the period was over when counted (then they may be kept)."""

    node: str
    children: tuple[str, ...]
    start: datetime
    end: datetime
    over: bool


Counted = dict[tuple[str, str, str], tuple[int | None, list[int] | None]]


async def _part(session: AsyncSession, wanted: _Wanted, part: int) -> Counted:
    prefixes = [TerritoryCode(code).prefix for code in wanted.children]
    rows = await session.execute(
        _COUNTS[part],
        {
            "node_like": _like(wanted.node),
            "node_prefix": TerritoryCode(wanted.node).prefix,
            "columns": list(wanted.children),
            "prefixes": prefixes,
            "k": len(prefixes[0]) if prefixes else 0,
            "start": wanted.start,
            "end": wanted.end,
            "total": TOTAL,
            "home_visit_due": HOME_VISIT_DUE,
            "grade_due": GRADE_DUE,
        },
    )
    return {(table, row, column): (count, waits) for table, row, column, count, waits in rows}


async def _period(session: AsyncSession, wanted: _Wanted) -> Counted:
    return {
        key: value
        for part in range(len(_COUNTS))
        for key, value in (await _part(session, wanted, part)).items()
    }


# Kept counts `k` (audit_0011) hold in the reader's snapshot when no change mark reaching before the
# period's end was written by a transaction their snapshot did not see.
_HOLDS = """NOT EXISTS (
    SELECT 1 FROM audit.change_marks m
    WHERE m.xid >= pg_snapshot_xmin(CAST(k.snapshot AS pg_snapshot))::text::bigint
      AND m.reach < k."end"
      AND NOT pg_visible_in_snapshot(m.xid::text::xid8, CAST(k.snapshot AS pg_snapshot)))"""
_KEPT = text(
    """
SELECT k.children, k.counted, k.snapshot, k.kept_at < now() - interval '10 minutes' AS restamp
FROM audit.kept_periods k
WHERE k.node = :node AND k.start = :start AND k."end" = :end AND """
    + _HOLDS
)
# Of the periods wanted (a node, its children, a month), the latest whose counts by column are not kept
# or no longer hold.
_UNKEPT = text(
    """
SELECT w.node, w.start FROM unnest(CAST(:nodes AS text[]), CAST(:children AS text[]),
                                   CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]))
  AS w(node, children, start, "end")
WHERE NOT EXISTS (
  SELECT 1 FROM audit.kept_periods k
  WHERE k.node = w.node AND k.start = w.start AND k."end" = w."end"
    AND array_to_string(k.children, ',') = w.children AND """
    + _HOLDS
    + """)
ORDER BY w."end" DESC, w.node
LIMIT 1"""
)
_KEEP = text("""
INSERT INTO audit.kept_periods (node, start, "end", children, counted, snapshot, kept_at)
VALUES (:node, :start, :end, :children, CAST(:counted AS jsonb), :snapshot, now())
ON CONFLICT (node, start, "end", children) DO UPDATE
  SET counted = excluded.counted, snapshot = excluded.snapshot, kept_at = excluded.kept_at
""")
# Counts that held in a newer snapshot hold with it: the marks a later reader must look at stay few.
_RESTAMP = text("""
UPDATE audit.kept_periods SET snapshot = :seen, kept_at = now()
WHERE node = :node AND start = :start AND "end" = :end AND children = :children AND snapshot = :snapshot
""")
# Counts not read for a month go; marks a day old that every kept snapshot saw or came after go (a
# writer's transaction open for a day after writing its happenings is the one case this could miss).
_FORGET = (
    text("DELETE FROM audit.kept_periods WHERE kept_at < now() - interval '30 days'"),
    text("""
DELETE FROM audit.change_marks
WHERE made_at < now() - interval '1 day'
  AND xid < (SELECT min(pg_snapshot_xmin(CAST(snapshot AS pg_snapshot))::text::bigint)
             FROM audit.kept_periods)
"""),
)


# Every kept count that still holds, stamped with the statement's snapshot (in which it holds) once it is
# ten minutes old, as a read stamps it: the sweep keeps the marks its looks must go through few.
_RESTAMP_ALL = text(
    """
UPDATE audit.kept_periods k SET snapshot = pg_current_snapshot()::text, kept_at = now()
WHERE k.kept_at < now() - interval '10 minutes' AND """
    + _HOLDS
)


async def tend_kept(session: AsyncSession) -> None:
    """Stamp the kept counts that hold with a newer snapshot; forget old marks and unread counts."""
    await session.execute(_RESTAMP_ALL)
    for statement in _FORGET:
        await session.execute(statement)


@dataclass(frozen=True)
class _Kept:
    counted: Counted
    children: tuple[str, ...]
    snapshot: str
    restamp: bool


async def _kept(session: AsyncSession, wanted: _Wanted) -> _Kept | None:
    """The kept counts that still hold: with the same columns, or any when the total alone is wanted."""
    if not wanted.over:
        return None
    found = await session.execute(_KEPT, {"node": wanted.node, "start": wanted.start, "end": wanted.end})
    for children, counted, snapshot, restamp in found:
        if tuple(children) == wanted.children or not wanted.children:
            rows = json.loads(counted) if isinstance(counted, str) else counted
            return _Kept(
                {(table, row, col): (n, waits) for table, row, col, n, waits in rows},
                tuple(children),
                snapshot,
                restamp,
            )
    return None


def _where(w: _Wanted, children: Sequence[str]) -> dict:
    return {"node": w.node, "start": w.start, "end": w.end, "children": list(children)}


async def _kept_or_counted(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], wanted: Sequence[_Wanted]
) -> list[Counted]:
    """Each period's counts: kept, or counted (at the same time, on connections sharing the session's
    snapshot) and kept when the period was over."""
    kept = {w: await _kept(session, w) for w in wanted}
    missing = [w for w in wanted if kept[w] is None]
    found = {w: k.counted for w, k in kept.items() if k is not None}
    restamp = [(w, k) for w, k in kept.items() if k is not None and k.restamp]
    if missing:
        # Every statement still to run, dealt between this connection and one more in its snapshot
        # (a period's two statements one each; of two periods, each connection one of each kind).
        parts = range(len(_COUNTS))
        jobs = [(w, (p,)) for i, w in enumerate(missing) for p in (parts[::-1] if i % 2 else parts)]
        other = await _beside(session, sessions)

        async def lane(on: AsyncSession, dealt) -> list[tuple[_Wanted, Counted]]:
            return [(w, await _part(on, w, p)) for w, ps in dealt for p in ps]

        async def beside() -> list[tuple[_Wanted, Counted]]:
            async with other() as in_snapshot:
                return await lane(in_snapshot, jobs[1::2])

        for w in missing:
            found[w] = {}
        for done in await asyncio.gather(lane(session, jobs[0::2]), beside()):
            for w, counted in done:
                found[w].update(counted)
    over = [w for w in missing if w.over]
    if over or restamp:
        seen = (await session.execute(text("SELECT pg_current_snapshot()::text"))).scalar_one()
        async with sessions.begin() as keeper:
            for w in over:
                rows = [[*key, n, _middle(waits)] for key, (n, waits) in found[w].items()]
                await keeper.execute(
                    _KEEP, {**_where(w, w.children), "counted": json.dumps(rows), "snapshot": seen}
                )
            for w, k in restamp:
                await keeper.execute(
                    _RESTAMP, {**_where(w, k.children), "snapshot": k.snapshot, "seen": seen}
                )
            for statement in _FORGET:
                await keeper.execute(statement)
    return [found[w] for w in wanted]


def _middle(waits: list[int] | None) -> dict | None:
    """What of a median's waits is kept: how many, and the one or two in the middle."""
    if waits is None:
        return None
    ordered = sorted(waits)
    return {"cases": len(ordered), "middle": ordered[(len(ordered) - 1) // 2 : len(ordered) // 2 + 1]}


def _median(waits: list[int] | dict | None) -> Cell:
    """As `figures` takes a median: of the waits in hours, as timedelta.total_seconds() gives them (or
    of their middle, kept)."""
    if isinstance(waits, dict):
        middle, cases = waits["middle"], waits["cases"]
    else:
        middle, cases = waits or (), len(waits or ())
    hours = [us / 10**6 / 3600 for us in middle]
    return Cell(round(statistics.median(hours), 1) if hours else None, cases=cases)


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


async def _tuned(session: AsyncSession) -> None:
    # Compiling the statement (JIT) costs more than running it; its hashes and sorts fit in memory.
    await session.execute(text("SET LOCAL jit = off"))
    await session.execute(text("SET LOCAL work_mem = '64MB'"))


async def _beside(session: AsyncSession, sessions: async_sessionmaker[AsyncSession]):
    """A second transaction that sees exactly what `session`'s snapshot sees (the caller's
    transaction is REPEATABLE READ and stays open while the other one starts)."""
    exported = (await session.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
    if not _SNAPSHOT_ID.fullmatch(exported):
        raise ValueError("not a snapshot's id")

    @asynccontextmanager
    async def other():
        async with sessions() as other, other.begin():
            await other.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
            await other.execute(text(f"SET TRANSACTION SNAPSHOT '{exported}'"))
            await _tuned(other)
            yield other

    return other


_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")


async def unkept(
    session: AsyncSession, wanted: Sequence[tuple[str, Sequence[str], Period]]
) -> tuple[str, Period] | None:
    """Of the months over wanted (a node, its children, a month), the latest whose counts are not kept
    or no longer hold, if any."""
    found = (
        await session.execute(
            _UNKEPT,
            {
                "nodes": [node for node, _, _ in wanted],
                "children": [",".join(children) for _, children, _ in wanted],
                "starts": [period.start for _, _, period in wanted],
                "ends": [period.end for _, _, period in wanted],
            },
        )
    ).first()
    if found is None:
        return None
    node, start = found
    return node, next(period for n, _, period in wanted if n == node and period.start == start)


async def counted_figures(
    session: AsyncSession,
    node: str,
    children: Sequence[str],
    period: Period,
    as_of: datetime,
    beside: async_sessionmaker[AsyncSession] | None = None,
) -> Figures:
    """What `figures(node_happenings(session, node, as_of), node, children, period, as_of)` gives,
    counted in the database. Given `beside` (the sessions of the same database), a period that was
    over is read from its kept counts when they still hold, and counted and kept otherwise; two periods
    to count are counted at the same time, the second on a connection in the same snapshot."""
    end = min(period.end, as_of)
    before = period.before()
    await _tuned(session)
    wanted = (
        _Wanted(node, tuple(children), period.start, end, over=end >= period.end),
        _Wanted(node, (), before.start, before.end, over=True),
    )
    if beside is None:
        now, then = [await _period(session, w) for w in wanted]
    else:
        now, then = await _kept_or_counted(session, beside, wanted)
    counted = {column: _column(now, column) for column in (*children, TOTAL)}
    counted["previous"] = _column(then, TOTAL)
    return assembled(node, period, end, counted, _departments(now))


__all__ = ["counted_figures", "tend_kept", "unkept"]
