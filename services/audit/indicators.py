"""What the record counts (issue 24): pure functions, no I/O.

Each event on the ledger that a figure counts becomes one or more **happenings** — a narrow, dated
row of codes (a report received, a grade, a referral's change, a service delivered, a closure…).
The ledger's store writes a batch's happenings in the transaction that appends its entries, so at
any moment the happenings are exactly what the ledger's entries make of them; `cpnet bulletin
verify` makes them again from the entries up to the checkpoint a bulletin names, and recomputes
its figures.

A bulletin's **figures** are computed here from a node's happenings for one period (a calendar
month, China Standard Time), as of the period's end (or of the moment asked, while it runs): each
table a list of rows and columns of cells, the columns the node's children, the node itself, and
the node in the period before. Whatever is counted is counted by the rule written once below.
"""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.contracts.envelope import Envelope
from shared.contracts.events import (
    ActionItemChanged,
    CaseAssessed,
    CaseClosed,
    CaseReopened,
    CaseReported,
    CaseTransferred,
    ReferralCreated,
    ReferralStatusChanged,
    ServiceChanged,
)
from shared.contracts.topics import TOPICS
from shared.contracts.vocabulary import (
    CHINA_STANDARD_TIME,
    ActionItemState,
    Agency,
    Category,
    Channel,
    ReferralState,
    RiskLevel,
    ServiceState,
    Stage,
)
from shared.territory.code import is_within


class Kind(StrEnum):
    """What happened to a case, as the figures count it."""

    reported = "reported"  # a report about the case's child (code: channel)
    graded = "graded"  # a grade given (code: the grade in force)
    needs_assessed = "needs_assessed"  # the needs assessment with its home visit (a grading at that stage)
    planned = "planned"  # the assistance plan recorded
    transferred = "transferred"  # the case moved to another territory (jurisdiction: where it is now)
    referred = "referred"  # a referral made (agency, ref, due_at, emergency)
    referral_changed = "referral_changed"  # a referral's new state (code: the state; agency, ref, reason)
    service_changed = "service_changed"  # a service's new state (code: the state; ref, due_at)
    closed = "closed"  # the case closed (code: the reason)
    reopened = "reopened"
    action_item = (
        "action_item"  # a joint meeting's action item given or done (code: state; agency, ref, due_at)
    )


@dataclass(frozen=True, slots=True)
class Happening:
    """One dated fact of a case, as the figures count it (codes only: no personal data)."""

    event_key: str
    case_id: uuid.UUID
    kind: Kind
    at: datetime
    jurisdiction: str | None = None
    code: str | None = None
    agency: str | None = None
    reason: str | None = None
    ref: uuid.UUID | None = None
    child_ref: uuid.UUID | None = None
    age: int | None = None
    categories: tuple[str, ...] = ()
    emergency: bool | None = None
    due_at: datetime | None = None
    number: str | None = None  # a report's case number (个案编号), as people say it


# The events a figure counts, by type: the ledger reads only these (and only valid ones) again.
COUNTED = {
    t.EVENT_TYPE: t
    for t in (
        CaseReported,
        CaseAssessed,
        CaseTransferred,
        ReferralCreated,
        ReferralStatusChanged,
        ServiceChanged,
        CaseClosed,
        CaseReopened,
        ActionItemChanged,
    )
}


def counted_on(topic: str, event_type: object) -> bool:
    """Whether an event of this type on this topic counts: a type a figure counts, on a topic of the
    registry it travels on, not a dead letter (no consumer acted on one)."""
    found = TOPICS.get(topic)
    return (
        event_type in COUNTED
        and found is not None
        and event_type in found.event_types
        and not topic.endswith(".dlq")
    )


def _day_end(day: date) -> datetime:
    """The moment a day (China Standard Time) is over: what is due on it is late after that."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), CHINA_STANDARD_TIME).astimezone(UTC)


def happenings_of(event_key: str, event: Envelope[Any]) -> list[Happening]:
    """What an event on the ledger says that a figure counts (empty: nothing)."""
    p, at = event.payload, event.occurred_at
    one: dict[str, Any] = {"event_key": event_key, "case_id": event.case_id}
    match p:
        case CaseReported():
            return [
                Happening(
                    **one,
                    kind=Kind.reported,
                    at=p.reported_at,
                    jurisdiction=p.jurisdiction,
                    code=p.channel,
                    ref=p.report_id,
                    child_ref=p.child_ref,
                    age=p.age_years,
                    categories=tuple(sorted(p.categories)),
                    number=p.case_number,
                )
            ]
        case CaseAssessed():
            graded = Happening(
                **one,
                kind=Kind.graded,
                at=at,
                jurisdiction=p.jurisdiction,
                code=p.risk_level,
                emergency=p.emergency,
            )
            stage = {Stage.needs_assessment: Kind.needs_assessed, Stage.plan: Kind.planned}.get(p.stage)
            return [graded] + (
                [Happening(**one, kind=stage, at=at, jurisdiction=p.jurisdiction)] if stage else []
            )
        case CaseTransferred():
            return [Happening(**one, kind=Kind.transferred, at=p.transferred_at, jurisdiction=p.jurisdiction)]
        case ReferralCreated():
            return [
                Happening(
                    **one,
                    kind=Kind.referred,
                    at=at,
                    jurisdiction=p.jurisdiction,
                    agency=p.agency,
                    ref=p.referral_id,
                    emergency=p.emergency,
                    due_at=p.ack_due_at,
                )
            ]
        case ReferralStatusChanged():
            return [
                Happening(
                    **one,
                    kind=Kind.referral_changed,
                    at=p.changed_at,
                    code=p.state,
                    agency=p.agency,
                    reason=p.reason,
                    ref=p.referral_id,
                )
            ]
        case ActionItemChanged():
            return [
                Happening(
                    **one,
                    kind=Kind.action_item,
                    at=p.changed_at,
                    jurisdiction=p.jurisdiction,
                    code=p.state,
                    agency=p.agency,
                    ref=p.action_item_id,
                    due_at=_day_end(p.due_on),
                )
            ]
        case ServiceChanged():
            return [
                Happening(
                    **one,
                    kind=Kind.service_changed,
                    at=p.changed_at,
                    jurisdiction=p.jurisdiction,
                    code=p.state,
                    ref=p.service_id,
                    due_at=_day_end(p.due_on),
                )
            ]
        case CaseClosed():
            return [Happening(**one, kind=Kind.closed, at=p.closed_at, code=p.reason)]
        case CaseReopened():
            return [Happening(**one, kind=Kind.reopened, at=p.reopened_at)]
    return []


# ---------------------------------------------------------------------------------------------
# Periods


@dataclass(frozen=True)
class Period:
    """A calendar month in China Standard Time ("2026-11")."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        try:
            year, month = (int(part) for part in text.split("-"))
            date(year, month, 1)
        except ValueError:
            raise ValueError(f"not a month (YYYY-MM): {text!r}") from None
        return cls(year, month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=CHINA_STANDARD_TIME).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return self.following().start

    def following(self) -> Period:
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def before(self) -> Period:
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)


# ---------------------------------------------------------------------------------------------
# Figures


SUPPRESSED_BELOW = 5  # a count of 1–4 children is not shown outside the territory


@dataclass(frozen=True)
class Cell:
    """A figure: a count, or hours (a median) with the number of cases it is the median of."""

    value: float | int | None
    cases: int | None = None  # for a median: how many cases it is over (suppression reads it)

    def shown(self, suppress: bool) -> str:
        """The figure as the bulletin prints it: "<5" for a suppressed count, "–" for no figure."""
        if self.value is None or (self.cases is not None and suppress and self.cases < SUPPRESSED_BELOW):
            return "–"
        if isinstance(self.value, int) and self.cases is None:
            return "<5" if suppress and 0 < self.value < SUPPRESSED_BELOW else str(self.value)
        return f"{self.value:.1f}"


@dataclass(frozen=True)
class Table:
    """One table of a bulletin: `key` names it, rows and columns are codes (the reader's words come
    from the catalogs), `row_kind` and `column_kind` say which vocabulary names them."""

    key: str
    row_kind: str
    column_kind: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

    def cell(self, row: str, column: str) -> Cell:
        return self.cells.get((row, column), Cell(0))


@dataclass(frozen=True)
class Figures:
    node: str
    period: Period
    as_of: datetime
    tables: tuple[Table, ...]

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)


@dataclass
class CaseRecord:
    """A case as the figures see it at the moment counted: its happenings in time order."""

    case_id: uuid.UUID
    happenings: list[Happening] = field(default_factory=list)

    def first(self, kind: Kind, *, after: datetime | None = None) -> Happening | None:
        return next((h for h in self.happenings if h.kind == kind and (after is None or h.at >= after)), None)

    def place(self) -> str | None:
        """Where the case is: the last report's or transfer's territory."""
        places = [h.jurisdiction for h in self.happenings if h.kind in (Kind.reported, Kind.transferred)]
        return places[-1] if places else None

    def opened(self) -> datetime | None:
        first = self.first(Kind.reported)
        return first.at if first else None


def case_records(happenings: Iterable[Happening], as_of: datetime) -> dict[uuid.UUID, CaseRecord]:
    cases: dict[uuid.UUID, CaseRecord] = {}
    for h in sorted((h for h in happenings if h.at < as_of), key=_in_order):
        cases.setdefault(h.case_id, CaseRecord(h.case_id)).happenings.append(h)
    return cases


AGE_BANDS = ("0-5", "6-11", "12-14", "15-17", "unknown")
TOTAL = "total"
RESPONSES = ("graded", "police_acknowledged", "needs_assessed", "planned", "service_delivered")
DEPARTMENT_MEASURES = (
    "received",
    "acknowledged_in_time",
    "declined",
    "done",
    "median_hours_to_acknowledge",
    "action_items",
    "action_items_done_in_time",
)
OVERDUE = ("referrals", "services")
REPEATS = ("reports", "reported_again_90_days")
# What a record lacks that someone should put right (数据质量), each counted over the open cases of a
# place at the moment counted; the score is the share of those cases that lack none of it.
QUALITY = ("red_without_home_visit_72h", "not_graded_after_24h", "no_age", "open_cases", "quality_score")
HOME_VISIT_DUE = timedelta(hours=72)
GRADE_DUE = timedelta(hours=24)


def age_band(age: int | None) -> str:
    if age is None:
        return "unknown"
    return "0-5" if age <= 5 else "6-11" if age <= 11 else "12-14" if age <= 14 else "15-17"


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def _median(values: Sequence[float]) -> Cell:
    return Cell(round(statistics.median(values), 1) if values else None, cases=len(values))


@dataclass(frozen=True)
class _Slice:
    """One column's count: the period, its as-of moment, and which places it takes in."""

    start: datetime
    end: datetime
    within: Callable[[str | None], bool]


def _column_counts(
    cases: dict[uuid.UUID, CaseRecord], happenings: list[Happening], s: _Slice
) -> dict[str, dict]:
    """Every figure of one column, by table key then row."""
    earlier_reports: dict[uuid.UUID, list[Happening]] = defaultdict(list)
    for h in sorted(happenings, key=_in_order):
        if h.kind == Kind.reported and h.child_ref is not None:
            earlier_reports[h.child_ref].append(h)
    in_period = [h for h in happenings if s.start <= h.at < s.end]
    reports = [h for h in in_period if h.kind == Kind.reported and s.within(h.jurisdiction)]
    new = [
        c for c in cases.values() if (c.opened() and s.start <= c.opened() < s.end) and s.within(c.place())
    ]
    out: dict[str, dict] = defaultdict(dict)

    out["reports_by_channel"] = _count(h.code for h in reports)
    out["new_cases_by_grade"] = _count((g.code if (g := c.first(Kind.graded)) else "not_graded") for c in new)
    out["new_cases_by_category"] = _count(cat for c in new for cat in c.first(Kind.reported).categories)
    out["new_cases_by_age"] = _count(age_band(c.first(Kind.reported).age) for c in new)

    # How long the first steps took, for the cases opened in the period (in hours, medians).
    waits: dict[str, list[float]] = {r: [] for r in RESPONSES}
    for c in new:
        opened = c.opened()
        for row, kind in (
            ("graded", Kind.graded),
            ("needs_assessed", Kind.needs_assessed),
            ("planned", Kind.planned),
        ):
            done = c.first(kind)
            if done:
                waits[row].append(_hours(opened, max(done.at, opened)))
        delivered = next(
            (h for h in c.happenings if h.kind == Kind.service_changed and h.code == ServiceState.delivered),
            None,
        )
        if delivered:
            waits["service_delivered"].append(_hours(opened, max(delivered.at, opened)))
        for sent in (
            h for h in c.happenings if h.kind == Kind.referred and h.agency == Agency.police and h.emergency
        ):
            if s.start <= sent.at < s.end:
                ack = next(
                    (
                        h
                        for h in c.happenings
                        if h.kind == Kind.referral_changed
                        and h.ref == sent.ref
                        and h.code != ReferralState.created
                    ),
                    None,
                )
                if ack:
                    waits["police_acknowledged"].append(_hours(sent.at, max(ack.at, sent.at)))
    out["response_hours"] = {row: _median(values) for row, values in waits.items()}

    # Still waiting at the period's end: referrals past their deadline unanswered, services past due.
    overdue = {"referrals": 0, "services": 0}
    for c in cases.values():
        if not s.within(c.place()):
            continue
        answered = {
            h.ref for h in c.happenings if h.kind == Kind.referral_changed and h.code != ReferralState.created
        }
        overdue["referrals"] += sum(
            1 for h in c.happenings if h.kind == Kind.referred and h.due_at < s.end and h.ref not in answered
        )
        services: dict[uuid.UUID, Happening] = {}
        for h in c.happenings:
            if h.kind == Kind.service_changed:
                services[h.ref] = h
        overdue["services"] += sum(
            1
            for h in services.values()
            if h.code in (ServiceState.planned, ServiceState.accepted, ServiceState.in_progress)
            and h.due_at < s.end
        )
    out["overdue_at_end"] = overdue

    out["data_quality"] = _quality([c for c in cases.values() if s.within(c.place())], s.end)

    out["closures_by_reason"] = _count(
        h.code for h in in_period if h.kind == Kind.closed and s.within(cases[h.case_id].place())
    )

    # Children reported again: a report in the period whose child had another within the 90 days before
    # it (before it in the record's order: two reports of one moment are a first and a repeat).
    again = sum(1 for h in reports if _reported_again(h, earlier_reports))
    out["reported_again"] = {"reports": len(reports), "reported_again_90_days": again}
    return out


def lacks(case: CaseRecord, at: datetime) -> dict[str, datetime]:
    """What the record of an open case lacks at the moment `at` (a rule of QUALITY a problem), each
    since when: the home visit since 72 hours after the red grade, the grade since 24 hours after the
    report, the age since the report."""
    found = {}
    red = next((h for h in case.happenings if h.kind == Kind.graded and h.code == RiskLevel.red), None)
    visited = case.first(Kind.needs_assessed)
    if red and red.at + HOME_VISIT_DUE <= at and not (visited and visited.at <= red.at + HOME_VISIT_DUE):
        found["red_without_home_visit_72h"] = red.at + HOME_VISIT_DUE
    opened = case.opened()
    if opened and opened + GRADE_DUE <= at and case.first(Kind.graded) is None:
        found["not_graded_after_24h"] = opened + GRADE_DUE
    report = case.first(Kind.reported)
    if report and report.age is None:
        found["no_age"] = report.at
    return found


def problems(case: CaseRecord, at: datetime) -> list[str]:
    """What the record of an open case lacks at the moment `at` (a rule of QUALITY a problem)."""
    return list(lacks(case, at))


def is_open(case: CaseRecord) -> bool:
    ends = [h.kind for h in case.happenings if h.kind in (Kind.closed, Kind.reopened)]
    return case.opened() is not None and (not ends or ends[-1] == Kind.reopened)


def _quality(cases: list[CaseRecord], at: datetime) -> dict[str, Cell]:
    open_cases = [c for c in cases if is_open(c)]
    found = [problems(c, at) for c in open_cases]
    counts: dict[str, Cell] = {rule: Cell(sum(rule in p for p in found)) for rule in QUALITY[:3]}
    clean = sum(1 for p in found if not p)
    score = round(100 * clean / len(open_cases), 1) if open_cases else None
    size = len(open_cases)
    return {**counts, "open_cases": Cell(size), "quality_score": Cell(score, cases=size)}


def _in_order(h: Happening) -> tuple:
    return (h.at, h.event_key, h.kind)


def _reported_again(report: Happening, reports_of_child: dict[uuid.UUID, list[Happening]]) -> bool:
    """Whether the child of `report` was reported in the 90 days before it, in the record's order."""
    if report.child_ref is None:
        return False
    before = reports_of_child[report.child_ref]
    place = before.index(report)
    return place > 0 and before[place - 1].at >= report.at - timedelta(days=90)


def _count(codes: Iterable[str | None]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for code in codes:
        counts[code or "unknown"] += 1
    return dict(counts)


def _department_row() -> dict[str, Any]:
    return {
        "received": 0,
        "in_time": 0,
        "declined": 0,
        "done": 0,
        "waits": [],
        "items": 0,
        "items_in_time": 0,
    }


def _departments(cases: dict[uuid.UUID, CaseRecord], s: _Slice) -> dict[str, dict[str, Cell]]:
    """Each agency's referrals of the period: received, acknowledged in time, declined, done, and the
    median hours to acknowledge (谁主管、谁负责)."""
    rows: dict[str, dict[str, Any]] = {}
    for c in cases.values():
        if not s.within(c.place()):
            continue
        for sent in (h for h in c.happenings if h.kind == Kind.referred and s.start <= h.at < s.end):
            row = rows.setdefault(sent.agency, _department_row())
            row["received"] += 1
            changes = [h for h in c.happenings if h.kind == Kind.referral_changed and h.ref == sent.ref]
            answer = next((h for h in changes if h.code != ReferralState.created), None)
            if answer is not None:
                row["waits"].append(_hours(sent.at, max(answer.at, sent.at)))
                row["in_time"] += answer.at <= sent.due_at and answer.code != ReferralState.declined
            states = {h.code for h in changes}
            row["declined"] += ReferralState.declined in states
            row["done"] += ReferralState.done in states
        # What joint meetings gave the department in the period, and how much of it was done by its day.
        items = [h for h in c.happenings if h.kind == Kind.action_item]
        for given in (h for h in items if h.code == ActionItemState.open and s.start <= h.at < s.end):
            row = rows.setdefault(given.agency, _department_row())
            row["items"] += 1
            row["items_in_time"] += any(
                h.ref == given.ref and h.code == ActionItemState.done and h.at <= given.due_at for h in items
            )
    return {
        agency: {
            "received": Cell(r["received"]),
            "acknowledged_in_time": Cell(r["in_time"]),
            "declined": Cell(r["declined"]),
            "done": Cell(r["done"]),
            "median_hours_to_acknowledge": _median(r["waits"]),
            "action_items": Cell(r["items"]),
            "action_items_done_in_time": Cell(r["items_in_time"]),
        }
        for agency, r in rows.items()
    }


# The rows of each table: a vocabulary's codes, in its order (a row nobody counted shows 0).
ROWS: dict[str, tuple[str, tuple[str, ...]]] = {
    "reports_by_channel": ("channel", tuple(Channel)),
    "new_cases_by_grade": ("grade", (*RiskLevel, "not_graded")),
    "new_cases_by_category": ("category", tuple(Category)),
    "new_cases_by_age": ("age_band", AGE_BANDS),
    "response_hours": ("response", RESPONSES),
    "overdue_at_end": ("overdue", OVERDUE),
    "closures_by_reason": ("reason", ()),  # the reasons counted, in their order
    "reported_again": ("repeat", REPEATS),
    "data_quality": ("quality", QUALITY),
}


def figures(
    happenings: Iterable[Happening], node: str, children: Sequence[str], period: Period, as_of: datetime
) -> Figures:
    """Every table of the bulletin of `node` for `period`, counted as of `as_of` (the period's end,
    or earlier while it runs): a column for each of `children`, the node, and the node in the period
    before (as of that period's end)."""
    happenings = list(happenings)
    end = min(period.end, as_of)
    before = period.before()
    now_cases = case_records(happenings, end)
    then_cases = case_records(happenings, before.end)
    now_list = [h for h in happenings if h.at < end]
    then_list = [h for h in happenings if h.at < before.end]

    def inside(code: str) -> Callable[[str | None], bool]:
        return lambda place: place is not None and is_within(place, code)

    counted: dict[str, dict[str, dict]] = {}
    for child in children:
        counted[child] = _column_counts(now_cases, now_list, _Slice(period.start, end, inside(child)))
    counted[TOTAL] = _column_counts(now_cases, now_list, _Slice(period.start, end, inside(node)))
    counted["previous"] = _column_counts(
        then_cases, then_list, _Slice(before.start, before.end, inside(node))
    )

    departments = _departments(now_cases, _Slice(period.start, end, inside(node)))
    return assembled(node, period, end, counted, departments)


def assembled(
    node: str,
    period: Period,
    end: datetime,
    counted: dict[str, dict[str, dict]],
    departments: dict[str, dict[str, Cell]],
) -> Figures:
    """The bulletin's tables from each column's counts (by table key, then row: a count or a Cell) and
    each department's measures: every row of a table's vocabulary, a row nobody counted 0."""
    columns = tuple(counted)
    tables = []
    for key, (row_kind, rows) in ROWS.items():
        if not rows:
            rows = tuple(sorted({row for column in counted.values() for row in column[key]}))
        cells = {}
        for column in columns:
            for row in rows:
                value = counted[column][key].get(row, 0)
                cells[(row, column)] = value if isinstance(value, Cell) else Cell(value)
        tables.append(Table(key, row_kind, "territory", rows, columns, cells))
    agencies = tuple(a for a in Agency if a in departments)
    tables.append(
        Table(
            "departments",
            "agency",
            "measure",
            agencies,
            DEPARTMENT_MEASURES,
            {(a, m): departments[a][m] for a in agencies for m in DEPARTMENT_MEASURES},
        )
    )
    return Figures(node=node, period=period, as_of=end, tables=tuple(tables))


def figures_as_dict(found: Figures) -> dict[str, Any]:
    """The figures as JSON (the audit API's answer; the console makes the files from it)."""
    return {
        "node": found.node,
        "period": str(found.period),
        "as_of": found.as_of.isoformat(),
        "tables": [
            {
                "key": table.key,
                "row_kind": table.row_kind,
                "column_kind": table.column_kind,
                "rows": list(table.rows),
                "columns": list(table.columns),
                "cells": [[r, c, cell.value, cell.cases] for (r, c), cell in table.cells.items()],
            }
            for table in found.tables
        ],
    }


def figures_from_dict(raw: dict[str, Any]) -> Figures:
    return Figures(
        node=raw["node"],
        period=Period.parse(raw["period"]),
        as_of=datetime.fromisoformat(raw["as_of"]),
        tables=tuple(
            Table(
                key=table["key"],
                row_kind=table["row_kind"],
                column_kind=table["column_kind"],
                rows=tuple(table["rows"]),
                columns=tuple(table["columns"]),
                cells={(r, c): Cell(value, cases) for r, c, value, cases in table["cells"]},
            )
            for table in raw["tables"]
        ),
    )
