"""What to correct (issue 24, data quality): the open cases of a territory whose record lacks what a
rule of data quality asks (services/audit/indicators.py `lacks`: a red case with no home visit within
72 hours, a case not graded 24 hours after its report, a child with neither birth date nor age), each
with what it lacks and since when, the longest waiting first; and each child node's quality score, the
share of its open cases lacking nothing — the bulletin's data-quality table, as of now.

`to_correct` is the rule, pure, over a node's happenings; `lacking` and `scores` find the same in the
database from the facts audit_0010 keeps of each case (a case's span in force, with its firsts), and
are what audit's API answers. `LACKS` says the rules once in SQL; the bulletin's count
(services/audit/counted.py) uses it too."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.indicators import (
    GRADE_DUE,
    HOME_VISIT_DUE,
    QUALITY,
    Happening,
    Kind,
    case_records,
    is_open,
    lacks,
)
from shared.territory.code import TerritoryCode, is_within

RULES = QUALITY[:3]

# Of a case's span in force at :end (audit.case_spans), whether it lacks what each rule asks, and since
# when (NULL when it does not).
LACKS = """
  CASE WHEN red_at + :home_visit_due <= :end
            AND NOT coalesce(assessed_at < :end AND assessed_at <= red_at + :home_visit_due, false)
       THEN red_at + :home_visit_due END AS red_without_home_visit_72h,
  CASE WHEN opened_at + :grade_due <= :end AND NOT coalesce(graded_at < :end, false)
       THEN opened_at + :grade_due END AS not_graded_after_24h,
  CASE WHEN age IS NULL THEN opened_at END AS no_age"""
# The open cases of a node at :end, each span's columns and what it lacks.
OPEN_LACKING = (
    """SELECT *, """
    + LACKS
    + """
  FROM audit.case_spans
  WHERE open AND since < :end AND (until IS NULL OR until >= :end) AND place LIKE :node_like"""
)


@dataclass(frozen=True)
class Lacking:
    """An open case whose record lacks what rules ask: which (in RULES' order), and since when."""

    case_id: uuid.UUID
    number: str | None
    jurisdiction: str
    rules: tuple[str, ...]
    since: datetime


@dataclass(frozen=True)
class Score:
    """A node's open cases and how many of them lack nothing; `score` their share in per cent."""

    node: str
    open_cases: int
    clean: int

    @property
    def score(self) -> float | None:
        return round(100 * self.clean / self.open_cases, 1) if self.open_cases else None


def to_correct(happenings: Iterable[Happening], node: str, at: datetime) -> list[Lacking]:
    """The open cases of `node` whose record lacks something at `at`, the longest waiting first."""
    found = []
    for case in case_records(happenings, at).values():
        place = case.place()
        if place is None or not is_within(place, node) or not is_open(case):
            continue
        if lacked := lacks(case, at):
            report = case.first(Kind.reported)
            found.append(
                Lacking(
                    case.case_id,
                    report.number if report else None,
                    place,
                    tuple(r for r in RULES if r in lacked),
                    min(lacked.values()),
                )
            )
    return sorted(found, key=lambda c: (c.since, str(c.case_id)))


def _params(node: str, at: datetime) -> dict:
    return {
        "node_like": TerritoryCode(node).prefix + "%",
        "end": at,
        "home_visit_due": HOME_VISIT_DUE,
        "grade_due": GRADE_DUE,
    }


_LACKING = text(
    """
WITH cases AS (
  SELECT case_id, place, array_remove(ARRAY[
           CASE WHEN red_without_home_visit_72h IS NOT NULL THEN 'red_without_home_visit_72h' END,
           CASE WHEN not_graded_after_24h IS NOT NULL THEN 'not_graded_after_24h' END,
           CASE WHEN no_age IS NOT NULL THEN 'no_age' END], NULL) AS rules,
         least(red_without_home_visit_72h, not_graded_after_24h, no_age) AS since
  FROM ("""
    + OPEN_LACKING
    + """) AS open_cases
)
SELECT c.case_id, c.place, c.rules, c.since, count(*) OVER () AS total,
       (SELECT h.number FROM audit.happenings h WHERE h.case_id = c.case_id AND h.kind = 'reported'
        ORDER BY h.at, h.event_key COLLATE "C" LIMIT 1) AS number
FROM cases c
WHERE c.since IS NOT NULL AND (CAST(:rule AS text) IS NULL OR CAST(:rule AS text) = ANY (c.rules))
ORDER BY c.since, CAST(c.case_id AS text)
LIMIT :limit OFFSET :offset"""
)


async def lacking(
    session: AsyncSession,
    node: str,
    at: datetime,
    *,
    rule: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Lacking], int]:
    """A page of what `to_correct(node_happenings(session, node, at), node, at)` gives (only the cases
    lacking `rule`, when given), found by the database; and how many there are in all."""
    rows = (
        await session.execute(_LACKING, {**_params(node, at), "rule": rule, "offset": offset, "limit": limit})
    ).all()
    if not rows and offset:
        return [], (await lacking(session, node, at, rule=rule, limit=1))[1]
    found = [
        Lacking(r.case_id, r.number, r.place, tuple(x for x in RULES if x in r.rules), r.since) for r in rows
    ]
    return found, rows[0].total if rows else 0


_SCORES = text(
    """
SELECT CASE WHEN grouping(col) = 1 THEN NULL ELSE col END AS col, count(*) AS open_cases,
       count(*) FILTER (WHERE red_without_home_visit_72h IS NULL AND not_graded_after_24h IS NULL
                              AND no_age IS NULL) AS clean
FROM (SELECT left(place, :k) AS col, * FROM ("""
    + OPEN_LACKING
    + """) AS o) AS open_cases
GROUP BY GROUPING SETS ((col), ())"""
)


async def scores(session: AsyncSession, node: str, children: Sequence[str], at: datetime) -> list[Score]:
    """Each child node's score, then the node's own (every child, with none: 0 open cases)."""
    prefixes = {TerritoryCode(child).prefix: child for child in children}
    k = len(next(iter(prefixes))) if prefixes else 0
    counted = {
        col: (n, clean) for col, n, clean in await session.execute(_SCORES, {**_params(node, at), "k": k})
    }
    total = counted.pop(None, (0, 0))
    return [Score(child, *counted.get(prefix, (0, 0))) for prefix, child in prefixes.items()] + [
        Score(node, *total)
    ]


__all__ = ["LACKS", "OPEN_LACKING", "RULES", "Lacking", "Score", "lacking", "scores", "to_correct"]
