"""Follow-up's HTTP API: record a visit with its note, read a case's visits back with their notes (every
read on the access ledger), and list due and overdue visits by territory."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from services.followup import tables as t
from services.followup.schedule import overdue_at
from services.followup.visits import PlanNotFound, Resources, record_visit
from shared.access import (
    PERSONAL_READ,
    Purpose,
    Reading,
    RecordedRead,
    case_reading,
    read_answers,
    read_case_notes,
)
from shared.auth import CASE_READERS, CASE_SIDE, TERRITORY_PREFIX_PATTERN, Principal, require_role
from shared.contracts.vocabulary import (
    OPEN_REFERRAL_STATES,
    VISITED_IN_THE_FUTURE,
    CaseStatus,
    Indicator,
    Need,
    PastMoment,
    RiskLevel,
    Stage,
)
from shared.http import answers
from shared.notes import NoteText, sealed_notes, texts_by_record
from shared.service import ServiceContext, service_context
from shared.territory.code import in_subtree

router = APIRouter(tags=["followup"])
Readers = require_role(*CASE_READERS)
Visitors = require_role(*CASE_SIDE)
Ctx = Annotated[ServiceContext[Resources], Depends(service_context)]


class Visit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visited_at: PastMoment
    indicators: list[Indicator] = Field(default_factory=list, description="risks found (none: a clean visit)")
    needs_met: list[Need] = Field(default_factory=list)
    needs_unmet: list[Need] = Field(default_factory=list)
    note: NoteText = None


class VisitRecorded(BaseModel):
    visit_id: uuid.UUID
    next_visit_due_at: datetime | None
    reassessment_requested: bool
    closed: bool = Field(
        description="The case met the closure rule with this visit: follow-up's watch ends and "
        "casework closes the case"
    )


@router.post(
    "/v1/cases/{case_id}/visits",
    response_model=VisitRecorded,
    status_code=201,
    responses=answers(404, 413, 422, described={422: VISITED_IN_THE_FUTURE}),
    summary="Record a follow-up visit (never dated in the future); new risk goes back to assessment",
)
async def post_visit(
    case_id: uuid.UUID, body: Visit, principal: Annotated[Principal, Depends(Visitors)], ctx: Ctx
) -> VisitRecorded:
    try:
        async with ctx.unit_of_work() as work:
            outcome = await record_visit(
                work,
                case_id,
                ctx.resources,
                visited_at=body.visited_at,
                visitor_ref=principal.subject,
                indicators=body.indicators,
                needs_met=body.needs_met,
                needs_unmet=body.needs_unmet,
                visible=principal.can_see,
                note=body.note,
            )
    except PlanNotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return VisitRecorded(**outcome.__dict__)


class PlannedVisit(BaseModel):
    case_id: uuid.UUID
    jurisdiction: str
    risk_level: RiskLevel
    cadence_days: int
    next_visit_due_at: datetime
    last_visit_at: datetime | None
    stage: Stage
    overdue: bool


@router.get("/v1/visits", response_model=list[PlannedVisit], summary="Due and overdue visits by territory")
async def list_visits(
    principal: Annotated[Principal, Depends(Readers)],
    ctx: Ctx,
    status: Literal["due", "overdue", "all"] = "due",
    jurisdiction: Annotated[str | None, Query(pattern=TERRITORY_PREFIX_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[PlannedVisit]:
    now = ctx.resources.clock()
    p = t.plans.c
    query = select(t.plans).where(p.state == CaseStatus.open)
    if status != "all":
        query = query.where(p.next_visit_due_at <= now)
    for prefix in filter(None, (principal.jurisdiction, jurisdiction)):
        query = query.where(in_subtree(p.jurisdiction, prefix))
    async with ctx.sessions() as session:
        rows = (await session.execute(query.order_by(p.next_visit_due_at).limit(limit))).all()
    visits = [
        PlannedVisit(
            overdue=overdue_at(ctx.resources.policy, r.next_visit_due_at) <= now,
            **{k: getattr(r, k) for k in PlannedVisit.model_fields if k != "overdue"},
        )
        for r in rows
    ]
    return [v for v in visits if status != "overdue" or v.overdue]


class CasePlan(BaseModel):
    case_id: uuid.UUID
    state: str
    risk_level: RiskLevel
    cadence_days: int
    next_visit_due_at: datetime
    last_visit_at: datetime | None
    stage: Stage
    open_referrals: int = Field(description="referrals not yet done or declined: closure waits for them")
    referrals: int = Field(description="referrals follow-up has heard of")
    visits: int


@router.get(
    "/v1/cases/{case_id}/plan",
    response_model=CasePlan,
    responses=answers(404),
    summary="A case's visit plan, and what closure still waits for",
)
async def get_plan(
    case_id: uuid.UUID, principal: Annotated[Principal, Depends(Readers)], ctx: Ctx
) -> CasePlan:
    async with ctx.sessions() as session:
        plan = (await session.execute(select(t.plans).where(t.plans.c.case_id == case_id))).first()
        if plan is None or not principal.can_see(plan.jurisdiction):
            raise HTTPException(status_code=404, detail=f"no visit plan for case {case_id} in your territory")
        open_referrals = await session.scalar(
            select(func.count())
            .select_from(t.referral_states)
            .where(
                t.referral_states.c.case_id == case_id, t.referral_states.c.state.in_(OPEN_REFERRAL_STATES)
            )
        )
        referrals = await session.scalar(
            select(func.count()).select_from(t.referral_states).where(t.referral_states.c.case_id == case_id)
        )
        visits = await session.scalar(
            select(func.count()).select_from(t.visits).where(t.visits.c.case_id == case_id)
        )
    return CasePlan(
        open_referrals=open_referrals,
        referrals=referrals,
        visits=visits,
        **{
            k: getattr(plan, k)
            for k in CasePlan.model_fields
            if k not in ("open_referrals", "referrals", "visits")
        },
    )


# ---- a case's visits, with their notes ---------------------------------------------------------

NO_SUCH_PLAN = "no visit plan for the case in your territory"


class VisitOnRecord(BaseModel):
    visit_id: uuid.UUID
    visited_at: datetime
    visitor_ref: str = Field(description="Pseudonymous id of the visitor")
    recorded_at: datetime
    indicators: list[Indicator] = Field(description="Risks the visit found (none: a clean visit)")
    needs_met: list[Need]
    needs_unmet: list[Need]
    risk_found: bool
    note: str | None


class CaseVisits(RecordedRead):
    case_id: uuid.UUID
    visits: list[VisitOnRecord] = Field(description="Newest first")


async def _sealed_visits(session, reading: Reading):
    v = t.visits.c
    visits = (
        await session.execute(
            select(t.visits)
            .where(v.case_id == reading.case_id)
            .order_by(v.visited_at.desc(), v.recorded_at.desc())
        )
    ).all()
    return visits, await sealed_notes(session, t.notes, reading.case_id)


@router.get(
    "/v1/cases/{case_id}/visits",
    response_model=CaseVisits,
    dependencies=PERSONAL_READ,
    responses=read_answers(NO_SUCH_PLAN),
    summary="The case's follow-up visits with their findings and notes, newest first",
)
async def read_visits(
    case_id: uuid.UUID, purpose: Purpose, principal: Annotated[Principal, Depends(Visitors)], ctx: Ctx
) -> CaseVisits:
    """For the caseworkers and supervisors whose territory covers the case. The read is on the access
    ledger before any note is opened; a refused one (another territory) too, answered 404."""
    access_id, (visits, sealed) = await read_case_notes(
        ctx,
        principal,
        purpose,
        find=lambda session: case_reading(session, principal, case_id, t.plans),
        load=_sealed_visits,
        not_found=NO_SUCH_PLAN,
    )
    notes = texts_by_record(ctx.resources.cipher, sealed)
    coded = [k for k in VisitOnRecord.model_fields if k not in ("visit_id", "note")]
    return CaseVisits(
        case_id=case_id,
        access_id=access_id,
        purpose=purpose,
        visits=[
            VisitOnRecord(visit_id=v.id, note=notes.get(v.id), **{k: getattr(v, k) for k in coded})
            for v in visits
        ],
    )
