"""Assessment's HTTP API: a case's grade and its history, the supervisor's override, and the
needs assessment (home visit, assessment report, assistance plan), each of which re-grades."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from services.assessment import tables as t
from services.assessment.assess import CaseNotFound, history, record_needs, set_override
from services.assessment.grading import Override
from shared.auth import CASE_READERS, CASE_SIDE, SUPERVISORS, Principal, require_role
from shared.contracts.vocabulary import Agency, Indicator, Need, PastMoment, ReasonCode, RiskLevel, Stage
from shared.http import answers
from shared.service import ServiceContext, service_context

router = APIRouter(prefix="/v1/cases/{case_id}", tags=["assessment"])

Readers = require_role(*CASE_READERS)
Caseworkers = require_role(*CASE_SIDE)
Supervisors = require_role(*SUPERVISORS)
Ctx = Annotated[ServiceContext, Depends(service_context)]
# A case's record, changed with a body.
WITH_BODY = answers(404, 413)


class Factor(BaseModel):
    code: str
    weight: int
    explanation: str


class GradeRecord(BaseModel):
    assessment_id: uuid.UUID
    cause: str
    risk_level: RiskLevel
    computed_level: RiskLevel
    overridden: bool
    score: int
    factors: list[Factor]
    needs: list[Need]
    emergency: bool
    rule_set_version: str
    stage: Stage
    response_due_at: datetime
    created_at: datetime


class CaseAssessment(BaseModel):
    case_id: uuid.UUID
    jurisdiction: str
    stage: Stage
    risk_level: RiskLevel
    initial_risk_level: RiskLevel = Field(description="the rules' grade, before any override")
    override_reason: str | None
    emergency: bool
    needs: list[Need]
    response_due_at: datetime
    history: list[GradeRecord]


def _not_found(exc: CaseNotFound) -> HTTPException:
    return HTTPException(status_code=404, detail=str(exc))


@router.get("/assessment", response_model=CaseAssessment, responses=answers(404),
            summary="The case's current grade and every grade before it")
async def get_assessment(case_id: uuid.UUID, principal: Annotated[Principal, Depends(Readers)],
                         ctx: Ctx) -> CaseAssessment:
    async with ctx.sessions() as session:
        row = (await session.execute(select(t.cases).where(t.cases.c.case_id == case_id))).first()
        if row is None or not principal.can_see(row.jurisdiction):
            raise HTTPException(status_code=404, detail=f"no case {case_id} in your territory")
        records = await history(session, case_id)
    latest = records[-1]
    return CaseAssessment(
        case_id=case_id, jurisdiction=row.jurisdiction, stage=row.stage, risk_level=row.risk_level,
        initial_risk_level=row.computed_level, override_reason=row.override_reason, emergency=row.emergency,
        needs=latest["needs"], response_due_at=row.response_due_at,
        history=[GradeRecord(assessment_id=r["id"], **{k: r[k] for k in GradeRecord.model_fields if k in r})
                 for r in records],
    )


class OverrideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    risk_level: RiskLevel
    reason: ReasonCode = Field(description="why, as a reason code (free text could carry personal data)")


async def _respond(ctx: ServiceContext, case_id: uuid.UUID, principal: Principal, action) -> CaseAssessment:
    try:
        async with ctx.sessions.begin() as session:
            await action(session)
    except CaseNotFound as exc:
        raise _not_found(exc) from None
    except ValueError as exc:  # a rule of the override path refused it
        raise HTTPException(status_code=422, detail=[{"loc": ["body", "risk_level"], "msg": str(exc),
                                                      "type": "value_error"}]) from None
    ctx.relay.wake()
    return await get_assessment(case_id, principal, ctx)


@router.post("/override", response_model=CaseAssessment, responses=WITH_BODY,
             summary="A supervisor sets the grade, with a reason")
async def override_grade(case_id: uuid.UUID, body: OverrideRequest,
                         principal: Annotated[Principal, Depends(Supervisors)], ctx: Ctx) -> CaseAssessment:
    override = Override(risk_level=body.risk_level, reason=body.reason, by=principal.subject)
    return await _respond(ctx, case_id, principal, lambda session: set_override(
        session, case_id, ctx.resources, override=override, visible=principal.can_see))


@router.delete("/override", response_model=CaseAssessment, responses=answers(404),
               summary="A supervisor returns the case to the rules' grade")
async def remove_override(case_id: uuid.UUID, principal: Annotated[Principal, Depends(Supervisors)],
                          ctx: Ctx) -> CaseAssessment:
    return await _respond(ctx, case_id, principal, lambda session: set_override(
        session, case_id, ctx.resources, override=None, visible=principal.can_see))


class HomeVisit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visited_at: PastMoment
    indicators: list[Indicator] = Field(default_factory=list, description="risks the visit found")
    needs: list[Need] = Field(default_factory=list, description="needs the visit found")
    findings: list[ReasonCode] = Field(default_factory=list, max_length=50, description="coded findings")


class AssessmentReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    indicators: list[Indicator] = Field(default_factory=list)
    needs: list[Need] = Field(default_factory=list)
    conclusions: list[ReasonCode] = Field(default_factory=list, max_length=50)


class PlanItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    need: Need
    agencies: list[Agency] = Field(min_length=1)
    action: ReasonCode


class AssistancePlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[PlanItem] = Field(min_length=1, max_length=50)


def _needs_route(kind: str, stage: Stage, summary: str):
    async def record(case_id: uuid.UUID, body: Any, principal: Principal, ctx: ServiceContext) -> CaseAssessment:
        indicators = getattr(body, "indicators", [])
        needs = getattr(body, "needs", None) or [item.need for item in getattr(body, "items", [])]
        occurred_at = getattr(body, "visited_at", None) or datetime.now(UTC)
        details = body.model_dump(mode="json", exclude={"indicators", "needs", "visited_at"})
        return await _respond(ctx, case_id, principal, lambda session: record_needs(
            session, case_id, ctx.resources, kind=kind, stage=stage, occurred_at=occurred_at,
            indicators=indicators, needs=needs, details=details, by=principal.subject, visible=principal.can_see))

    record.__doc__ = summary
    return record


_record_visit = _needs_route("home_visit", Stage.needs_assessment, "Record a home visit; the case is re-graded.")
_record_report = _needs_route("assessment_report", Stage.needs_assessment, "Record the assessment report.")
_record_plan = _needs_route("plan", Stage.plan, "Record the assistance plan; the case moves to the plan stage.")


@router.post("/home-visits", response_model=CaseAssessment, status_code=201, responses=WITH_BODY,
             summary="Record a home visit")
async def record_home_visit(case_id: uuid.UUID, body: HomeVisit,
                            principal: Annotated[Principal, Depends(Caseworkers)], ctx: Ctx) -> CaseAssessment:
    return await _record_visit(case_id, body, principal, ctx)


@router.post("/assessment-reports", response_model=CaseAssessment, status_code=201, responses=WITH_BODY,
             summary="Record the written assessment report")
async def record_assessment_report(case_id: uuid.UUID, body: AssessmentReport,
                                   principal: Annotated[Principal, Depends(Caseworkers)], ctx: Ctx) -> CaseAssessment:
    return await _record_report(case_id, body, principal, ctx)


@router.post("/plans", response_model=CaseAssessment, status_code=201, responses=WITH_BODY,
             summary="Record the assistance plan")
async def record_plan(case_id: uuid.UUID, body: AssistancePlan,
                      principal: Annotated[Principal, Depends(Caseworkers)], ctx: Ctx) -> CaseAssessment:
    return await _record_plan(case_id, body, principal, ctx)
