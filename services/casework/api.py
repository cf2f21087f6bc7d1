"""Casework's HTTP API: the worklist (open cases by urgency, filtered, keyset-paginated), the
board's counts, one case, a supervisor's assignment of its owner, the written review, approvals and
a person's reopening of a closed case.
No personal data but the notes written with those actions, read only with a purpose and on the
access ledger (`GET /v1/cases/{id}/notes`); everything else is ids, codes, grades, dates and
pseudonymous user ids."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ColumnElement, and_, func, literal_column, select, true, tuple_

from services.casework import tables as t
from services.casework.actions import CaseAction, actions
from services.casework.cases import (
    ApprovalNotFound,
    CaseNotFound,
    Resources,
    approvals_of,
    assign,
    decide_approval,
    load_case,
    reopen,
    request_approval,
    review,
)
from services.casework.decide import (
    CLOSING_REASONS,
    EMERGENCY,
    NOT_GRADED,
    Approval,
    CaseFile,
    ChildHasOpenCase,
    DirectoryEntry,
    DueKind,
    MergedByLink,
    NoRecentVisit,
    NotACaseworker,
    NotYours,
    OpenReferrals,
    OpenServices,
    ReasonRequired,
    Refused,
)
from services.casework.waiting import WaitingKind, as_query, waiting_for
from shared.access import CaseNotes, Purpose, case_reading, notes_route, read_notes_of_case
from shared.auth import (
    CASE_READERS,
    CASE_SIDE,
    SUPERVISORS,
    TERRITORY_PREFIX_PATTERN,
    AuthError,
    Principal,
    Role,
    directory_audience,
    require_role,
    verify_token,
)
from shared.case_number import CHINA_STANDARD_TIME
from shared.contracts.events import ApprovalKind, ReviewDecision
from shared.contracts.vocabulary import (
    CASE_NUMBER_PATTERN,
    CaseStatus,
    Category,
    Jurisdiction,
    OpaqueRef,
    ReasonCode,
    ReferralState,
    ReopenReason,
    RiskLevel,
    ScreenOutReason,
    Stage,
    TransferReason,
)
from shared.http import answers, unprocessable
from shared.notes import NoteText
from shared.service import ServiceContext, service_context
from shared.territory.code import CODE_DIGITS, DIGITS, in_subtree

router = APIRouter(prefix="/v1/cases", tags=["casework"])
approvals_router = APIRouter(prefix="/v1/approvals", tags=["casework"])
Readers = require_role(*CASE_READERS)
Supervisors = require_role(*SUPERVISORS)
Caseworkers = require_role(*CASE_SIDE)
Ctx = Annotated[ServiceContext[Resources], Depends(service_context)]
OWNER_PATTERN = r"^(me|unassigned|[A-Za-z0-9._:-]{1,64})$"


class Owner(BaseModel):
    station: str | None = Field(description="The township node answerable for the case")
    caseworker: str | None = Field(
        description="Pseudonymous id of the caseworker who owns it; null: no one named yet (unassigned)"
    )
    assigned_at: datetime | None


class Case(BaseModel):
    """One case as the worklist shows it."""

    case_id: uuid.UUID
    case_number: str | None = Field(description="The number people say and write (e.g. 140402-2026-00123)")
    child_ref: uuid.UUID | None
    jurisdiction: str
    emergency: bool = Field(description="A child in immediate danger: listed before every other case")
    categories: list[Category]
    risk_level: RiskLevel | None = Field(description="The grade in force (null: not graded yet)")
    initial_risk_level: RiskLevel | None = Field(description="The grade the rules produced")
    stage: Stage
    state: CaseStatus
    owner: Owner
    next_due_at: datetime | None
    next_due_kind: DueKind | None = Field(
        description="What is due next: the written review, an agency's acknowledgement, a visit, a service "
        "of the plan"
    )
    overdue: bool
    open_referrals: int
    pending_approvals: int
    review_due_at: datetime | None
    reviewed_at: datetime | None
    closed_at: datetime | None
    closed_reason: str | None
    reopened_at: datetime | None = Field(
        description="When a person last reopened it (POST /v1/cases/{case_id}/reopening)"
    )
    last_visited_at: datetime | None = Field(description="The latest follow-up visit")
    last_activity_at: datetime


class Tally(BaseModel):
    """The territory's listed cases (open, or closed when asked) by what a board filters on."""

    all: int
    emergency: int
    red: int
    orange: int
    blue: int
    not_graded: int
    overdue: int
    unassigned: int
    pending_approval: int


class CasePage(BaseModel):
    cases: list[Case]
    next: str | None = Field(description="Pass as `after` for the next page; null on the last page")
    total: int | None = Field(default=None, description="With `totals`: how many cases the filters find")
    tally: Tally | None = Field(
        default=None, description="With `totals`: the territory's cases by quick filter"
    )


def _case(row: CaseFile, now: datetime) -> Case:
    return Case(
        case_id=row.case_id,
        case_number=row.case_number,
        child_ref=row.child_ref,
        jurisdiction=row.jurisdiction,
        emergency=row.emergency,
        categories=list(row.categories),
        risk_level=row.risk_level,
        initial_risk_level=row.initial_risk_level,
        stage=row.stage,
        state=row.state,
        owner=Owner(station=row.owner_node, caseworker=row.owner_ref, assigned_at=row.assigned_at),
        next_due_at=row.next_due_at,
        next_due_kind=row.next_due_kind,
        overdue=row.next_due_at is not None and row.next_due_at <= now,
        open_referrals=row.open_referrals,
        pending_approvals=row.pending_approvals,
        review_due_at=row.review_due_at,
        reviewed_at=row.reviewed_at,
        closed_at=row.closed_at,
        closed_reason=row.closed_reason,
        reopened_at=row.reopened_at,
        last_visited_at=row.last_visited_at,
        last_activity_at=row.last_activity_at,
    )


# ---- keyset pagination: (urgency, sort_due_at, case_id) of the last row, opaque to callers ----


def _cursor(row: CaseFile) -> str:
    key = f"{row.urgency}|{row.sort_due_at.isoformat()}|{row.case_id}"
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


NOT_A_CURSOR = "not a cursor this list gave"


def _after(cursor: str) -> tuple[int, datetime, uuid.UUID]:
    """The row a cursor names. A forged one is refused as a field, never passed on: an urgency past a
    smallint, or a moment without its offset or beyond the years the database's clock holds, would
    fail in the driver as a 500."""
    try:
        urgency, due, case_id = (
            base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
        )
        key = int(urgency), datetime.fromisoformat(due), uuid.UUID(case_id)
        if not EMERGENCY <= key[0] <= NOT_GRADED or key[1].tzinfo is None:
            raise ValueError(NOT_A_CURSOR)
        key[1].astimezone(UTC)  # OverflowError past year 1 or 9999
        return key
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise unprocessable(
            [{"loc": ["query", "after"], "msg": NOT_A_CURSOR, "type": "value_error"}]
        ) from None


def _territory(principal: Principal, territory: str | None) -> list[ColumnElement[bool]]:
    """The cases of the caller's territory, within the node asked for."""
    c = t.cases.c
    return [
        c.jurisdiction.is_not(None),
        *(in_subtree(c.jurisdiction, prefix) for prefix in filter(None, (principal.jurisdiction, territory))),
    ]


def _filters(
    principal: Principal,
    *,
    now: datetime,
    territory: str | None = None,
    grade: Sequence[RiskLevel] | None = None,
    stage: list[Stage] | None = None,
    category: Category | None = None,
    owner: str | None = None,
    overdue: bool | None = None,
    open_referrals: bool | None = None,
    pending_approval: bool | None = None,
    number: str | None = None,
    reviewed: bool | None = None,
    emergency: bool | None = None,
    received: tuple[datetime | None, datetime | None] = (None, None),
) -> list[ColumnElement[bool]]:
    c = t.cases.c
    where = _territory(principal, territory)
    if number:
        where.append(c.case_number == number)
    if emergency is not None:
        where.append(c.emergency.is_(emergency))
    if received[0] is not None:
        where.append(c.reported_at >= received[0])
    if received[1] is not None:
        where.append(c.reported_at < received[1])
    if grade:
        where.append(c.risk_level.in_([g.value for g in grade]))
    if stage:
        where.append(c.stage.in_([s.value for s in stage]))
    if category:
        where.append(c.categories.any(category.value))
    if owner == "me":
        where.append(c.owner_ref == principal.subject)
    elif owner == "unassigned":
        where.append(c.owner_ref.is_(None))
    elif owner:
        where.append(c.owner_ref == owner)
    if overdue is not None:
        late = c.next_due_at <= now
        where.append(late if overdue else ~late | c.next_due_at.is_(None))
    if open_referrals is not None:
        where.append(c.open_referrals > 0 if open_referrals else c.open_referrals == 0)
    if pending_approval is not None:
        where.append(c.pending_approvals > 0 if pending_approval else c.pending_approvals == 0)
    if reviewed is not None:
        where.append(c.reviewed_at.is_not(None) if reviewed else c.reviewed_at.is_(None))
    return where


Territory = Annotated[
    str | None,
    Query(pattern=TERRITORY_PREFIX_PATTERN, description="a node's code prefix (2, 4, 6, 9 or 12 digits)"),
]


@router.get(
    "",
    response_model=CasePage,
    responses=answers(
        422,
        described={
            422: "invalid query fields, or `after` is not a cursor this list gave (forged, or another list's)"
        },
    ),
    summary="The worklist: cases by urgency (a child in immediate danger "
    "first, then red, then the earliest due date), filtered; keyset "
    "pages; with totals, the counts a board shows",
)
async def list_cases(
    principal: Annotated[Principal, Depends(Readers)],
    ctx: Ctx,
    territory: Territory = None,
    grade: Annotated[list[RiskLevel] | None, Query()] = None,
    stage: Annotated[list[Stage] | None, Query()] = None,
    category: Category | None = None,
    owner: Annotated[
        str | None, Query(pattern=OWNER_PATTERN, description="`me`, `unassigned` or a caseworker's id")
    ] = None,
    overdue: bool | None = None,
    open_referrals: bool | None = None,
    pending_approval: bool | None = None,
    reviewed: Annotated[bool | None, Query(description="whether its written review is recorded")] = None,
    state: Annotated[
        CaseStatus | None,
        Query(description="open (the default) or closed; with `number`, either unless given"),
    ] = None,
    number: Annotated[
        str | None,
        Query(pattern=CASE_NUMBER_PATTERN, description="a case's number (个案编号), e.g. 140402-2026-00123"),
    ] = None,
    emergency: Annotated[bool | None, Query(description="a child in immediate danger")] = None,
    received_from: Annotated[
        date | None, Query(description="reported on or after this day (China time)")
    ] = None,
    received_to: Annotated[
        date | None, Query(description="reported on or before this day (China time)")
    ] = None,
    totals: Annotated[
        bool,
        Query(
            description="also count the cases the filters find, and the territory's "
            "cases by what the board filters on (one more scan)"
        ),
    ] = False,
    after: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=r"^[A-Za-z0-9_-]+$",
            description="the `next` of the page before (any other is refused, 422)",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CasePage:
    now = ctx.resources.clock()
    c = t.cases.c
    received = (_day_start(received_from), _day_start(received_to, days_later=1))
    where = _filters(
        principal,
        territory=territory,
        grade=grade,
        stage=stage,
        category=category,
        owner=owner,
        overdue=overdue,
        open_referrals=open_referrals,
        pending_approval=pending_approval,
        now=now,
        number=number,
        reviewed=reviewed,
        emergency=emergency,
        received=received,
    )
    listed = c.state == (state or CaseStatus.open)
    if state or not number:  # a number named on the phone finds its case, open or closed
        where.append(listed)
    page = list(where)
    if after:
        page.append(tuple_(c.urgency, c.sort_due_at, c.case_id) > tuple_(*_after(after)))
    query = select(t.cases).where(*page).order_by(c.urgency, c.sort_due_at, c.case_id).limit(limit + 1)
    async with ctx.engine.connect() as connection:
        rows = [CaseFile.of_row(row) for row in await connection.execute(query)]
        tally = (
            await _tally(connection, [*_territory(principal, territory), listed], where, now)
            if totals
            else None
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return CasePage(
        cases=[_case(row, now) for row in rows],
        next=_cursor(rows[-1]) if more else None,
        total=tally.pop("found") if tally else None,
        tally=Tally(**tally) if tally else None,
    )


def _day_start(day: date | None, *, days_later: int = 0) -> datetime | None:
    """The start of a day in China time, `days_later`; None (no bound) for a day so far off that no
    moment the database holds lies beyond it."""
    if day is None:
        return None
    try:
        return datetime.combine(day + timedelta(days=days_later), time(), CHINA_STANDARD_TIME).astimezone(UTC)
    except OverflowError:
        return None


async def _tally(
    connection, territory: list[ColumnElement[bool]], found: list[ColumnElement[bool]], now: datetime
) -> dict[str, int]:
    """In one scan of the territory's listed cases: how many the filters find, and how many each of
    the board's quick filters would."""
    c = t.cases.c
    counts = {
        "found": and_(*found),
        "all": true(),
        "emergency": c.emergency.is_(True),
        **{level.value: c.risk_level == level.value for level in RiskLevel},
        "not_graded": c.risk_level.is_(None),
        "overdue": c.next_due_at <= now,
        "unassigned": c.owner_ref.is_(None),
        "pending_approval": c.pending_approvals > 0,
    }
    row = (
        await connection.execute(
            select(*(func.count().filter(condition).label(name) for name, condition in counts.items())).where(
                *territory
            )
        )
    ).one()
    return dict(row._mapping)


class Count(BaseModel):
    node: str = Field(
        description="The territory node one level below the one asked for (the node itself at village level)"
    )
    risk_level: RiskLevel | None
    stage: Stage
    cases: int


def _scope(principal: Principal, territory: str | None) -> tuple[str, ColumnElement[str]] | None:
    """The territory prefix asked for within the caller's (None: the two do not meet) and the SQL of
    each case's node one level below it (the node itself at village level)."""
    prefix = max((p for p in (principal.jurisdiction, territory or "") if p), key=len, default="")
    if (
        territory
        and principal.jurisdiction
        and not (territory.startswith(principal.jurisdiction) or principal.jurisdiction.startswith(territory))
    ):
        return None
    deeper = [n for n in DIGITS.values() if n > len(prefix)]
    digits = deeper[0] if deeper else CODE_DIGITS
    return prefix, func.rpad(func.substr(t.cases.c.jurisdiction, 1, digits), CODE_DIGITS, "0")


@router.get(
    "/counts",
    response_model=list[Count],
    summary="Open cases by grade × stage × the territory nodes one level down, for a board",
)
async def count_cases(
    principal: Annotated[Principal, Depends(Readers)], ctx: Ctx, territory: Territory = None
) -> list[Count]:
    scope = _scope(principal, territory)
    if scope is None:
        return []
    prefix, node = scope
    c = t.cases.c
    query = (
        select(node, c.risk_level, c.stage, func.count())
        .where(c.jurisdiction.is_not(None), c.state == CaseStatus.open, in_subtree(c.jurisdiction, prefix))
        .group_by(node, c.risk_level, c.stage)
        .order_by(node, c.risk_level, c.stage)
    )
    async with ctx.engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [Count(node=n, risk_level=level, stage=stage, cases=count) for n, level, stage, count in rows]


class CategoryCount(BaseModel):
    node: str = Field(description="The territory node one level below the one asked for")
    category: Category
    risk_level: RiskLevel | None
    cases: int


class Week(BaseModel):
    week_start: date = Field(description="Monday of the week (UTC)")
    opened: int = Field(description="Cases first graded that week")
    closed: int = Field(description="Cases closed that week")


class Dashboard(BaseModel):
    by_category: list[CategoryCount] = Field(
        description="Open cases by node × category × grade (a case of several categories counts in each)"
    )
    weeks: list[Week] = Field(description="The last eight weeks, oldest first")
    reviews_overdue: int
    referrals_overdue: int = Field(description="Referrals not acknowledged by their deadline, of open cases")
    visits_overdue: int


WEEKS = 8


@router.get(
    "/dashboard",
    response_model=Dashboard,
    summary="A territory's numbers: open cases by category × grade × node, new and closed per week, "
    "reviews, referrals and visits overdue",
)
async def dashboard(
    principal: Annotated[Principal, Depends(Readers)], ctx: Ctx, territory: Territory = None
) -> Dashboard:
    scope = _scope(principal, territory)
    if scope is None:
        return Dashboard(by_category=[], weeks=[], reviews_overdue=0, referrals_overdue=0, visits_overdue=0)
    prefix, node = scope
    now = ctx.resources.clock()
    c, r = t.cases.c, t.referrals.c
    here = in_subtree(c.jurisdiction, prefix)
    category = func.unnest(c.categories).label("category")
    by_category = (
        select(node.label("node"), category, c.risk_level).where(here, c.state == CaseStatus.open).subquery()
    )
    moment = now.astimezone(UTC)
    this_week = (moment - timedelta(days=moment.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    starts = [this_week - timedelta(weeks=back) for back in reversed(range(WEEKS))]
    async with ctx.engine.connect() as connection:
        counts = (
            await connection.execute(
                select(by_category.c.node, by_category.c.category, by_category.c.risk_level, func.count())
                .group_by(by_category.c.node, by_category.c.category, by_category.c.risk_level)
                .order_by(by_category.c.node, by_category.c.category, by_category.c.risk_level)
            )
        ).all()
        per_week = []
        for column in (c.graded_at, c.closed_at):  # first graded (new), closed
            week = func.date_trunc("week", column, "UTC").label("week")
            rows = await connection.execute(
                select(week, func.count()).where(here, column >= starts[0]).group_by(literal_column("week"))
            )
            per_week.append(dict(rows.all()))
        opened, closed = per_week
        late = (
            await connection.execute(
                select(
                    func.count().filter(c.reviewed_at.is_(None) & (c.review_due_at <= now)),
                    func.count().filter(c.visit_due_at <= now),
                ).where(here, c.state == CaseStatus.open)
            )
        ).one()
        referrals_late = await connection.scalar(
            select(func.count())
            .select_from(t.referrals.join(t.cases, r.case_id == c.case_id))
            .where(here, c.state == CaseStatus.open, r.state == ReferralState.created, r.ack_due_at <= now)
        )
    return Dashboard(
        by_category=[
            CategoryCount(node=n, category=cat, risk_level=level, cases=count)
            for n, cat, level, count in counts
        ],
        weeks=[
            Week(week_start=start.date(), opened=opened.get(start, 0), closed=closed.get(start, 0))
            for start in starts
        ],
        reviews_overdue=late[0],
        visits_overdue=late[1],
        referrals_overdue=referrals_late,
    )


class WaitingCount(BaseModel):
    kind: WaitingKind = Field(
        description="new_red: red cases whose written review is not recorded; "
        "assigned_to_me; approvals: requests to decide; overdue"
    )
    count: int
    worklist: dict[str, str | list[str]] | None = Field(
        description="The query of GET /v1/cases that lists them; null: the pending requests "
        "(GET /v1/approvals)"
    )


@router.get(
    "/waiting",
    response_model=list[WaitingCount],
    summary="What waits for the caller (a caseworker or supervisor): new red cases, theirs, "
    "requests to decide, overdue — each count with the worklist that lists them",
)
async def waiting(principal: Annotated[Principal, Depends(Readers)], ctx: Ctx) -> list[WaitingCount]:
    now = ctx.resources.clock()
    wanted = waiting_for(principal.role)
    c = t.cases.c
    # One query for the case counts: each the worklist's own filter, counted among the open cases.
    counts = [
        func.count().filter(and_(*_filters(principal, now=now, **w.filters)))
        for w in wanted
        if w.filters is not None
    ]
    numbers, pending = [], 0
    async with ctx.engine.connect() as connection:
        if counts:
            here = in_subtree(c.jurisdiction, principal.jurisdiction)
            numbers = list(
                (await connection.execute(select(*counts).where(c.state == CaseStatus.open, here))).one()
            )
        if any(w.filters is None for w in wanted):
            pending = await connection.scalar(
                select(func.count()).select_from(t.approvals).where(*_approvals_where(principal, "pending"))
            )
    listed = iter(numbers)
    return [
        WaitingCount(kind=w.kind, count=next(listed), worklist=as_query(w.filters))
        if w.filters is not None
        else WaitingCount(kind=w.kind, count=pending, worklist=None)
        for w in wanted
    ]


class CaseWithActions(Case):
    """One case, and what the caller may do on it now."""

    actions: list[CaseAction] = Field(
        description="What the caller may do on the case as it stands (casework's rules; the other "
        "services' roles): a page offers exactly these, and every service still refuses what its "
        "rules do not allow"
    )


@router.get(
    "/{case_id}",
    response_model=CaseWithActions,
    responses=answers(404),
    summary="One case as the worklist shows it, with what the caller may do on it",
)
async def get_case(
    case_id: uuid.UUID, principal: Annotated[Principal, Depends(Readers)], ctx: Ctx
) -> CaseWithActions:
    try:
        async with ctx.engine.connect() as connection:
            row = await load_case(connection, case_id, principal.can_see)
            requests = await approvals_of(connection, case_id)
    except CaseNotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    case = _case(row, ctx.resources.clock())
    return CaseWithActions(**case.model_dump(), actions=actions(row, principal, requests))


class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    caseworker: OpaqueRef = Field(description="Pseudonymous id of the caseworker who is to own the case")
    caseworker_token: str | None = Field(
        default=None,
        max_length=4096,
        pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$",
        description="The directory's word about the caseworker: a token from cpnet's issuer naming them (its "
        "audience `<audience>/directory`, never a bearer token), which the console mints for an "
        "active caseworker of its users. Without it, or naming someone else, no one is assigned "
        "(422)",
    )
    reason: ReasonCode | None = Field(
        default=None,
        description="Why the owner changes (required when the case has a named owner already), e.g. workload",
    )
    note: NoteText = None


NO_SUCH_CASE = "no such case in your territory"


@router.get(
    "/{case_id}/notes",
    **notes_route(NO_SUCH_CASE),
    summary="The notes written with the case's assignments, written review and approvals, newest first",
    description="Each note's action: assignment, review, approval_request or approval_decision "
    "(about: the request, GET /v1/approvals), reopening.",
)
async def read_notes(
    case_id: uuid.UUID, purpose: Purpose, principal: Annotated[Principal, Depends(Caseworkers)], ctx: Ctx
) -> CaseNotes:
    """For the caseworkers and supervisors whose territory covers the case. The read is on the access
    ledger before any note is opened; a refused one (another territory) too, answered 404."""
    return await read_notes_of_case(
        ctx,
        principal,
        purpose,
        case_id,
        table=t.notes,
        not_found=NO_SUCH_CASE,
        find=lambda session: case_reading(session, principal, case_id, t.cases),
    )


def _vouched(settings, token: str | None) -> DirectoryEntry | None:
    """What the directory's token says of the person it names, if it verifies."""
    if token is None:
        return None
    try:
        person = verify_token(settings, token, audience=directory_audience(settings))
    except AuthError:
        return None
    return DirectoryEntry(subject=person.subject, role=person.role.value, jurisdiction=person.jurisdiction)


@router.post(
    "/{case_id}/assignment",
    response_model=Case,
    responses=answers(
        404,
        409,
        413,
        422,
        described={
            409: "the case is closed",
            422: "invalid fields; or `caseworker` is not, on the directory's word (`caseworker_token`), "
            "an active caseworker whose territory holds the case; or `reason` is missing where the "
            "case has a named owner already",
        },
    ),
    summary="A supervisor of the case's territory names the caseworker who owns it: an active "
    "caseworker whose territory holds the case, as the console's directory vouches",
)
async def assign_case(
    case_id: uuid.UUID, body: Assignment, principal: Annotated[Principal, Depends(Supervisors)], ctx: Ctx
) -> Case:
    entry = _vouched(ctx.settings, body.caseworker_token)
    with refusals():
        async with ctx.unit_of_work(connection=True) as work:
            case = await assign(
                work,
                case_id,
                body.caseworker,
                supervisor=principal.subject,
                reason=body.reason,
                visible=principal.can_see,
                res=ctx.resources,
                entry=entry,
                note=body.note,
            )
    return _case(case, ctx.resources.clock())


@contextmanager
def refusals() -> Iterator[None]:
    """What casework's rules refuse, as HTTP answers: not found or not in the caller's territory 404,
    not theirs to do 403, not in the case's state 409 (a closure refused for open referrals or for
    want of a recent visit, a reopening of a case a link merged away or whose child's reports are in
    another open case, say so by `code`, naming the referrals or the case), a reason missing or not one
    the action takes 422 naming `reason`."""
    try:
        yield
    except (CaseNotFound, ApprovalNotFound) as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except NotYours as exc:
        raise HTTPException(status_code=403, detail=str(exc)) from None
    except ReasonRequired as exc:
        raise unprocessable([{"loc": ["body", "reason"], "msg": str(exc), "type": "value_error"}]) from None
    except NotACaseworker as exc:
        raise unprocessable(
            [{"loc": ["body", "caseworker"], "msg": str(exc), "type": "value_error"}]
        ) from None
    except OpenReferrals as exc:
        named = [
            {"referral_id": str(r.referral_id), "agency": r.agency, "state": r.state} for r in exc.referrals
        ]
        raise HTTPException(
            status_code=409, detail={"msg": str(exc), "code": "open_referrals", "open_referrals": named}
        ) from None
    except OpenServices as exc:
        named = [{"service_id": str(s.service_id), "kind": s.kind, "state": s.state} for s in exc.services]
        raise HTTPException(
            status_code=409, detail={"msg": str(exc), "code": "open_services", "open_services": named}
        ) from None
    except NoRecentVisit as exc:
        raise HTTPException(status_code=409, detail={"msg": str(exc), "code": "no_recent_visit"}) from None
    except ChildHasOpenCase as exc:
        raise HTTPException(
            status_code=409, detail={"msg": str(exc), "code": "child_has_open_case", **_named(exc.case)}
        ) from None
    except MergedByLink as exc:
        raise HTTPException(
            status_code=409, detail={"msg": str(exc), "code": "merged_by_link", **_named(exc.into)}
        ) from None
    except Refused as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None


def _named(case: CaseFile | None) -> dict[str, str | None]:
    """The other case a refusal names (the child's reports are there), by id and number."""
    if case is None:
        return {}
    return {"case_id": str(case.case_id), "case_number": case.case_number}


def _alternatives(
    on: str, cases: dict[object, dict[str, Any]], *, required: dict[object, list[str]] | None = None
):
    """The schema's own word for what a body's `on` field decides of the others (`cases`: each value's
    properties; `required`: what that value makes required), as a oneOf beside the model's properties —
    so a client, or a generator of requests, knows the reasons an action takes before casework's rules
    say so with a 422. The rules themselves stay in decide.py; this only describes them."""

    def extra(schema: dict[str, Any]) -> None:
        schema["oneOf"] = [
            {
                "properties": {on: {"const": value}, **properties},
                "required": [on, *(required or {}).get(value, [])],
            }
            for value, properties in cases.items()
        ]

    return extra


def _codes(vocabulary) -> dict[str, Any]:
    return {"enum": sorted(str(code) for code in vocabulary)}


NOTHING = {"type": "null"}


class Review(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_alternatives(
            "decision",
            {"screened_in": {"reason": NOTHING}, "screened_out": {"reason": _codes(ScreenOutReason)}},
            required={"screened_out": ["reason"]},
        ),
    )

    decision: ReviewDecision
    reason: ReasonCode | None = Field(
        default=None,
        description="Required to screen out: unfounded, duplicate, "
        "outside_jurisdiction, adult, resolved_by_family",
    )
    note: NoteText = None


@router.post(
    "/{case_id}/review",
    response_model=Case,
    responses=answers(
        404,
        409,
        413,
        described={
            409: "closed, not graded, reviewed already, or an orange "
            "or red case screened out without approval"
        },
    ),
    summary="The written review (书面审核): screened in, or screened out with a reason",
)
async def review_case(
    case_id: uuid.UUID, body: Review, principal: Annotated[Principal, Depends(Caseworkers)], ctx: Ctx
) -> Case:
    with refusals():
        async with ctx.unit_of_work(connection=True) as work:
            case = await review(
                work,
                case_id,
                body.decision,
                body.reason,
                by=principal.subject,
                supervisor=principal.role == Role.supervisor,
                visible=principal.can_see,
                res=ctx.resources,
                note=body.note,
            )
    return _case(case, ctx.resources.clock())


class Reopening(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ReopenReason = Field(
        description="Why it is reopened: new_risk, closed_in_error, services_still_needed, family_request"
    )
    note: NoteText = None


@router.post(
    "/{case_id}/reopening",
    response_model=Case,
    responses=answers(
        404,
        409,
        413,
        described={
            409: "the case is open; a link merged it into another case (`code` merged_by_link: the "
            "link's undo reopens it); the child's reports are in another open case (`code` "
            "child_has_open_case, naming it); a red case asked by a caseworker (who asks for "
            "approval); or a request to reopen it is pending"
        },
    ),
    summary="The case's owner (an orange or blue case) or a supervisor of its territory (any) "
    "reopens a closed case with a reason: open again at the stage it had reached, its review "
    "due anew",
)
async def reopen_case(
    case_id: uuid.UUID, body: Reopening, principal: Annotated[Principal, Depends(Caseworkers)], ctx: Ctx
) -> Case:
    with refusals():
        async with ctx.unit_of_work(connection=True) as work:
            case = await reopen(
                work,
                case_id,
                body.reason,
                by=principal.subject,
                supervisor=principal.role == Role.supervisor,
                visible=principal.can_see,
                res=ctx.resources,
                note=body.note,
            )
    return _case(case, ctx.resources.clock())


# ---- approvals --------------------------------------------------------------------------------


class ApprovalOut(BaseModel):
    approval_id: uuid.UUID
    case_id: uuid.UUID
    kind: ApprovalKind
    reason: str
    jurisdiction: str = Field(description="Where the case was when asked")
    to_jurisdiction: str | None = Field(description="A transfer's destination (whose supervisors decide it)")
    requested_by: str
    requested_at: datetime
    state: Literal["pending", "approved", "rejected"]
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    # What the list shows to recognise the case (GET /v1/approvals only).
    case_number: str | None = Field(default=None, description="The case's number (listing only)")
    risk_level: RiskLevel | None = Field(default=None, description="The case's grade in force (listing only)")
    emergency: bool | None = Field(
        default=None, description="The child is in immediate danger (listing only)"
    )


def _approval(approval: Approval, **case: Any) -> ApprovalOut:
    return ApprovalOut(**approval.as_row(), **case)


class ApprovalRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_alternatives(
            "kind",
            {
                "screen_out": {"reason": _codes(ScreenOutReason), "to_jurisdiction": NOTHING},
                "close": {"reason": _codes(CLOSING_REASONS), "to_jurisdiction": NOTHING},
                "reopen": {"reason": _codes(ReopenReason), "to_jurisdiction": NOTHING},
                "transfer": {"reason": _codes(TransferReason), "to_jurisdiction": {"type": "string"}},
            },
            required={"transfer": ["to_jurisdiction"]},
        ),
    )

    kind: ApprovalKind
    reason: ReasonCode = Field(
        description="screen_out: unfounded, duplicate, outside_jurisdiction, adult, "
        "resolved_by_family; close: risk_resolved, turned_18, moved_away, "
        "deceased, family_reunified, duplicate; transfer: family_moved, placed_there, "
        "wrong_territory; reopen (a red case): new_risk, closed_in_error, "
        "services_still_needed, family_request"
    )
    to_jurisdiction: Jurisdiction | None = Field(
        default=None,
        description="transfer only: the 12-digit code of the place the child now lives (a node of "
        "the territory registry); its supervisors accept or decline",
    )
    note: NoteText = None

    @model_validator(mode="after")
    def _transfer_names_its_destination(self) -> ApprovalRequest:
        if (self.kind == "transfer") != (self.to_jurisdiction is not None):
            raise ValueError("to_jurisdiction is required for a transfer, and only then")
        return self


@router.post(
    "/{case_id}/approvals",
    response_model=ApprovalOut,
    status_code=201,
    responses=answers(
        404,
        409,
        413,
        422,
        described={
            409: "the case's state does not allow it, or the same request is pending already",
            422: "invalid fields; or a transfer's `to_jurisdiction` is not a node of the territory registry",
        },
    ),
    summary="The case's owner asks a supervisor to approve screening it out, closing it or "
    "reopening it (a red case); its owner or a supervisor asks another territory's "
    "supervisors to take it over (transfer)",
)
async def ask_approval(
    case_id: uuid.UUID, body: ApprovalRequest, principal: Annotated[Principal, Depends(Caseworkers)], ctx: Ctx
) -> ApprovalOut:
    if body.to_jurisdiction is not None and body.to_jurisdiction not in ctx.resources.territory:
        raise unprocessable(
            [
                {
                    "loc": ["body", "to_jurisdiction"],
                    "msg": "not a node of the territory registry",
                    "type": "value_error",
                }
            ]
        )
    with refusals():
        async with ctx.unit_of_work(connection=True) as work:
            approval = await request_approval(
                work,
                case_id,
                body.kind,
                body.reason,
                by=principal.subject,
                visible=principal.can_see,
                res=ctx.resources,
                supervisor=principal.role == Role.supervisor,
                to_jurisdiction=body.to_jurisdiction,
                note=body.note,
            )
    return _approval(approval)


def _approvals_where(
    principal: Principal, state: str, territory: str | None = None
) -> list[ColumnElement[bool]]:
    """Requests of a state in the caller's territory (and a node of it), or going there (transfers)."""
    a = t.approvals.c
    where = [a.state == state]
    for prefix in filter(None, (principal.jurisdiction, territory)):
        where.append(in_subtree(a.jurisdiction, prefix) | in_subtree(a.to_jurisdiction, prefix))
    return where


@approvals_router.get(
    "",
    response_model=list[ApprovalOut],
    summary="Requests in the caller's territory (transfers also in the territory they go "
    "to), the oldest pending first",
)
async def list_approvals(
    principal: Annotated[Principal, Depends(Readers)],
    ctx: Ctx,
    state: Literal["pending", "approved", "rejected"] = "pending",
    territory: Territory = None,
    case_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ApprovalOut]:
    a, c = t.approvals.c, t.cases.c
    query = (
        select(t.approvals, c.case_number, c.risk_level, c.emergency)
        .join(t.cases, c.case_id == a.case_id)
        .where(*_approvals_where(principal, state, territory))
    )
    if case_id is not None:
        query = query.where(a.case_id == case_id)
    async with ctx.engine.connect() as connection:
        rows = await connection.execute(query.order_by(a.requested_at, a.approval_id).limit(limit))
    return [
        _approval(
            Approval.of_row(row),
            case_number=row.case_number,
            risk_level=row.risk_level,
            emergency=row.emergency,
        )
        for row in rows
    ]


class ApprovalDecision(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_alternatives(
            "approve", {True: {}, False: {"reason": {"type": "string"}}}, required={False: ["reason"]}
        ),
    )

    approve: bool
    reason: ReasonCode | None = Field(default=None, description="Required to reject")
    note: NoteText = None


@approvals_router.post(
    "/{approval_id}/decision",
    response_model=ApprovalOut,
    responses=answers(
        404,
        409,
        413,
        described={
            409: "decided already, or the case is no longer in the state the request was for "
            "(closed; or, for a reopening, open again or merged away)"
        },
    ),
    summary="A supervisor of the case's territory approves or rejects a request (a transfer: "
    "a supervisor of the territory it goes to accepts or declines)",
)
async def decide_request(
    approval_id: uuid.UUID,
    body: ApprovalDecision,
    principal: Annotated[Principal, Depends(Supervisors)],
    ctx: Ctx,
) -> ApprovalOut:
    with refusals():
        async with ctx.unit_of_work(connection=True) as work:
            approval, _ = await decide_approval(
                work,
                approval_id,
                body.approve,
                body.reason,
                by=principal.subject,
                visible=principal.can_see,
                res=ctx.resources,
                note=body.note,
            )
    return _approval(approval)
