"""Referral's HTTP API: referrals by agency, state and territory (overdue first), one
referral's details for the agency it is addressed to, agencies' answers, and a withdrawal by the
case's side — each with a note, read back with a purpose and on the access ledger."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import case, func, select

from services.referral import tables as t
from services.referral.decide import ForeignAnswer
from services.referral.lifecycle import IllegalTransition, answers_from
from services.referral.refer import Resources, respond, withdraw
from shared.access import (
    PERSONAL_READ,
    Purpose,
    Reading,
    RecordedRead,
    addressed_to,
    case_reading,
    read_answers,
    read_case_notes,
)
from shared.auth import CASE_SIDE, TERRITORY_PREFIX_PATTERN, Principal, Role, require_role
from shared.contracts.events import ReferralAction, ReferralOutcome, ReferralResponded
from shared.contracts.vocabulary import (
    CASE_NUMBER_PATTERN,
    OPEN_REFERRAL_STATES,
    Agency,
    ReasonCode,
    ReferralState,
    RiskLevel,
    WithdrawalReason,
)
from shared.http import answers
from shared.notes import NoteText, WrittenNote, sealed_notes, written_notes
from shared.service import ServiceContext, service_context
from shared.territory.code import in_subtree

router = APIRouter(prefix="/v1/referrals", tags=["referral"])
Readers = require_role(Role.agency_officer, Role.caseworker, Role.supervisor, Role.operator, Role.auditor)
Officers = require_role(Role.agency_officer)
CaseSide = require_role(*CASE_SIDE)
Ctx = Annotated[ServiceContext[Resources], Depends(service_context)]


class Referral(BaseModel):
    referral_id: uuid.UUID
    case_id: uuid.UUID
    case_number: str | None = Field(
        description="The case's number people say and write (个案编号; null for a "
        "referral made before cases were numbered)"
    )
    agency: Agency
    state: ReferralState
    outcome: str | None
    reason: str | None
    risk_level: RiskLevel
    jurisdiction: str
    holder: str
    escalations: int
    created_at: datetime
    ack_due_at: datetime
    acknowledged_at: datetime | None
    overdue: bool
    emergency: bool = Field(description="A child in immediate danger")
    categories: list[str] = Field(description="The case's categories, as graded")
    needs: list[str] = Field(
        description="What the case needs, as graded: what the agency is asked to help with"
    )
    child_details_url: str = Field(
        description="Where the agency reads the child's details (intake) while "
        "the referral is open; add ?purpose=… — every read is audited"
    )
    actions: list[str] = Field(
        description="What the caller may do with it now: the answers the lifecycle "
        "allows from its state for an officer of its agency (acknowledge, "
        "start, complete, decline); withdraw for the case's side while it "
        "is open"
    )


def _with_case():
    """Each referral with what referral knows of its case (grade's emergency, categories, needs)."""
    c = t.cases.c
    return select(
        t.referrals,
        func.coalesce(c.emergency, False).label("emergency"),
        func.coalesce(c.categories, []).label("categories"),
        func.coalesce(c.needs, []).label("needs"),
    ).outerjoin(t.cases, c.case_id == t.referrals.c.case_id)


def _actions(row, principal: Principal | None) -> list[str]:
    """What this person may do with the referral now, by the lifecycle (the console shows these alone)."""
    if principal is None or not _visible(principal, row):
        return []
    state = ReferralState(row.state)
    if principal.role == Role.agency_officer:  # visible: its own agency's
        return list(answers_from(state))
    return ["withdraw"] if principal.role in CASE_SIDE and state in OPEN_REFERRAL_STATES else []


def _referral(row, ctx: ServiceContext, principal: Principal | None = None) -> Referral:
    now = ctx.resources.clock()
    return Referral(
        referral_id=row.id,
        overdue=row.state == ReferralState.created and row.ack_due_at <= now,
        child_details_url=f"{ctx.resources.intake_url}/v1/cases/{row.case_id}/child",
        actions=_actions(row, principal),
        **{
            k: getattr(row, k)
            for k in Referral.model_fields
            if k not in ("referral_id", "overdue", "child_details_url", "actions")
        },
    )


def _visible(principal: Principal, row) -> bool:
    if principal.role == Role.agency_officer and row.agency != principal.agency:
        return False
    return principal.can_see(row.jurisdiction)


@router.get(
    "",
    response_model=list[Referral],
    summary="Referrals by agency, state, territory, case, grade; overdue first, then the earliest "
    "deadline; in pages (`offset`), the count found in the X-Total-Count header",
)
async def list_referrals(
    principal: Annotated[Principal, Depends(Readers)],
    ctx: Ctx,
    response: Response,
    agency: Agency | None = None,
    state: ReferralState | None = None,
    jurisdiction: Annotated[str | None, Query(pattern=TERRITORY_PREFIX_PATTERN)] = None,
    case_id: uuid.UUID | None = None,
    number: Annotated[str | None, Query(pattern=CASE_NUMBER_PATTERN, description="a case's number")] = None,
    waiting: Annotated[
        bool | None, Query(description="still open (created, acknowledged, in progress)")
    ] = None,
    overdue: Annotated[bool | None, Query(description="unacknowledged past its deadline")] = None,
    grade: Annotated[list[RiskLevel] | None, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[Referral]:
    now = ctx.resources.clock()
    r = t.referrals.c
    if principal.role == Role.agency_officer:
        agency = principal.agency  # an agency sees only referrals addressed to it
    late = (r.state == ReferralState.created.value) & (r.ack_due_at <= now)
    where = [
        in_subtree(r.jurisdiction, prefix) for prefix in filter(None, (principal.jurisdiction, jurisdiction))
    ]
    if agency:
        where.append(r.agency == agency.value)
    if state:
        where.append(r.state == state.value)
    if case_id:
        where.append(r.case_id == case_id)
    if number:
        where.append(r.case_number == number)
    if grade:
        where.append(r.risk_level.in_([g.value for g in grade]))
    if waiting is not None:
        where.append(r.state.in_(OPEN_REFERRAL_STATES) if waiting else r.state.not_in(OPEN_REFERRAL_STATES))
    if overdue is not None:
        where.append(late if overdue else ~late)
    query = _with_case().where(*where).order_by(case((late, 0), else_=1), r.ack_due_at, r.id)
    async with ctx.sessions() as session:
        rows = (await session.execute(query.offset(offset).limit(limit))).all()
        response.headers["X-Total-Count"] = str(
            await session.scalar(select(func.count()).select_from(t.referrals).where(*where))
        )
    return [_referral(row, ctx, principal) for row in rows]


@router.get(
    "/{referral_id}",
    response_model=Referral,
    responses=answers(404),
    summary="One referral (its details_url)",
)
async def get_referral(
    referral_id: uuid.UUID, principal: Annotated[Principal, Depends(Readers)], ctx: Ctx
) -> Referral:
    async with ctx.sessions() as session:
        row = (await session.execute(_with_case().where(t.referrals.c.id == referral_id))).first()
    if row is None or not _visible(principal, row):
        raise HTTPException(status_code=404, detail="no such referral for you")
    return _referral(row, ctx, principal)


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: ReferralAction
    outcome: ReferralOutcome | None = None
    reason: ReasonCode | None = None
    note: NoteText = None


@router.post(
    "/{referral_id}/responses",
    response_model=Referral,
    summary="An agency acknowledges, starts, completes or declines a referral",
    responses=answers(404, 409, 413, described={409: "not allowed from the referral's state"}),
)
async def answer_referral(
    referral_id: uuid.UUID, body: Answer, principal: Annotated[Principal, Depends(Officers)], ctx: Ctx
) -> Referral:
    async with ctx.sessions() as session:
        row = (await session.execute(select(t.referrals).where(t.referrals.c.id == referral_id))).first()
    if row is None or not _visible(principal, row):
        raise HTTPException(status_code=404, detail="no such referral for you")
    now = ctx.resources.clock()
    try:
        answer = ReferralResponded(
            referral_id=referral_id,
            case_id=row.case_id,
            agency=Agency(row.agency),
            action=body.action,
            outcome=body.outcome,
            reason=body.reason,
            responded_at=now,
            responder_ref=principal.subject,
        )
    except ValueError as exc:
        raise HTTPException(
            status_code=422,
            detail=[{"loc": ["body"], "msg": str(exc).splitlines()[-1], "type": "value_error"}],
        ) from None
    try:
        async with ctx.unit_of_work() as work:
            await respond(work, answer, ctx.resources, note=body.note)
    except (IllegalTransition, ForeignAnswer) as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return await get_referral(referral_id, principal, ctx)


# The reasons a person gives: case_closed is casework's own, when a case closes with a referral open. A
# vocabulary of its own, so the OpenAPI document says so (a schema-valid reason is never refused).
PersonsWithdrawalReason = StrEnum(
    "PersonsWithdrawalReason",
    {reason.name: reason.value for reason in WithdrawalReason if reason is not WithdrawalReason.case_closed},
)


class Withdrawal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: PersonsWithdrawalReason  # type: ignore[valid-type]
    note: NoteText = None  # the agency it was referred to reads it with the referral's answers


@router.post(
    "/{referral_id}/withdrawal",
    response_model=Referral,
    summary="The case's side withdraws an open referral, with a reason (before a case closes)",
    responses=answers(404, 409, 413, described={409: "the agency has ended the referral already"}),
)
async def withdraw_referral(
    referral_id: uuid.UUID, body: Withdrawal, principal: Annotated[Principal, Depends(CaseSide)], ctx: Ctx
) -> Referral:
    """A caseworker or supervisor whose territory covers the case ends a referral the agency has not
    finished; the agency's kit receives the withdrawal on its own topic. Withdrawing it again
    changes nothing."""
    async with ctx.sessions() as session:
        row = (await session.execute(select(t.referrals).where(t.referrals.c.id == referral_id))).first()
    if row is None or not _visible(principal, row):
        raise HTTPException(status_code=404, detail="no such referral for you")
    try:
        async with ctx.unit_of_work() as work:
            await withdraw(
                work,
                referral_id,
                WithdrawalReason(body.reason),
                by=principal.subject,
                res=ctx.resources,
                note=body.note,
            )
    except IllegalTransition as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return await get_referral(referral_id, principal, ctx)


# ---- a referral's answers, with their notes ------------------------------------------------------

NO_SUCH_REFERRAL = "no such referral for you"
NoteReaders = require_role(Role.agency_officer, Role.caseworker, Role.supervisor)


class ReferralAnswers(RecordedRead):
    referral: Referral = Field(description="Its state now, with the outcome and reason of how it ended")
    notes: list[WrittenNote] = Field(
        description="Newest first, each with the answer it was written with "
        "(action: acknowledge, start, complete, decline — the "
        "agency's officer — or withdrawal — the case's side)"
    )


async def _reading(session, referral_id: uuid.UUID, principal: Principal) -> Reading | None:
    """An agency reads the notes of the referrals addressed to it; the case's caseworkers and supervisors,
    those of every referral of a case in their territory."""
    r = t.referrals.c
    query = (
        select(r.case_id, r.agency, r.jurisdiction, t.cases.c.child_ref)
        .outerjoin(t.cases, t.cases.c.case_id == r.case_id)
        .where(r.id == referral_id)
    )
    row = (await session.execute(query)).first()
    if row is None:
        return None
    refusal, entitled = addressed_to(principal, row.jurisdiction, row.agency, referral_id)
    return Reading(
        case_id=row.case_id,
        child_ref=row.child_ref,
        jurisdiction=row.jurisdiction,
        refusal=refusal,
        referral_id=entitled,
    )


async def _sealed_answers(session, reading: Reading, referral_id: uuid.UUID):
    row = (await session.execute(_with_case().where(t.referrals.c.id == referral_id))).one()
    return row, await sealed_notes(session, t.notes, reading.case_id, about=referral_id)


@router.get(
    "/{referral_id}/answers",
    response_model=ReferralAnswers,
    dependencies=PERSONAL_READ,
    responses=read_answers(NO_SUCH_REFERRAL),
    summary="A referral's answers and withdrawal with their notes, newest first",
)
async def read_referral_answers(
    referral_id: uuid.UUID, purpose: Purpose, principal: Annotated[Principal, Depends(NoteReaders)], ctx: Ctx
) -> ReferralAnswers:
    """For the agency it is addressed to, and the caseworkers and supervisors whose territory covers the
    case. The read is on the access ledger before any note is opened; a refused one (another agency,
    another territory) too, answered 404."""
    access_id, (row, sealed) = await read_case_notes(
        ctx,
        principal,
        purpose,
        find=lambda session: _reading(session, referral_id, principal),
        load=lambda session, reading: _sealed_answers(session, reading, referral_id),
        not_found=NO_SUCH_REFERRAL,
    )
    return ReferralAnswers(
        referral=_referral(row, ctx, principal),
        access_id=access_id,
        purpose=purpose,
        notes=written_notes(ctx.resources.cipher, sealed),
    )


# ---- every answer of a case's referrals, for the case's side ------------------------------------------

cases_router = APIRouter(prefix="/v1/cases", tags=["referral"])
NO_SUCH_CASE = "no referral of such a case for you"


class AgencyNote(WrittenNote):
    agency: Agency = Field(description="The agency of the referral the note was written with")


class CaseAnswers(RecordedRead):
    notes: list[AgencyNote] = Field(
        description="Every note written with an answer to (or the withdrawal of) "
        "one of the case's referrals, newest first"
    )


async def _sealed_case_answers(session, reading: Reading):
    agencies = dict(
        (
            await session.execute(
                select(t.referrals.c.id, t.referrals.c.agency).where(t.referrals.c.case_id == reading.case_id)
            )
        ).all()
    )
    return agencies, await sealed_notes(session, t.notes, reading.case_id)


@cases_router.get(
    "/{case_id}/referral-answers",
    response_model=CaseAnswers,
    dependencies=PERSONAL_READ,
    responses=read_answers(NO_SUCH_CASE),
    summary="The notes of every answer to the case's referrals, for its caseworkers and "
    "supervisors, newest first",
)
async def read_case_answers(
    case_id: uuid.UUID, purpose: Purpose, principal: Annotated[Principal, Depends(CaseSide)], ctx: Ctx
) -> CaseAnswers:
    """What each agency wrote when it acknowledged, started, completed or declined — and what the case's
    side wrote when it withdrew a referral: one read of the case's notes on the access ledger (an agency
    reads its own referral's, `GET /v1/referrals/{id}/answers`)."""
    access_id, (agencies, sealed) = await read_case_notes(
        ctx,
        principal,
        purpose,
        find=lambda session: case_reading(session, principal, case_id, t.cases),
        load=_sealed_case_answers,
        not_found=NO_SUCH_CASE,
    )
    notes = [
        AgencyNote(**note.model_dump(), agency=agencies[note.about])
        for note in written_notes(ctx.resources.cipher, sealed)
        if note.about in agencies
    ]
    return CaseAnswers(access_id=access_id, purpose=purpose, notes=notes)
