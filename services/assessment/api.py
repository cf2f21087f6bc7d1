"""Assessment's HTTP API: a case's grade and its history, the supervisor's override, and the
needs assessment (home visit, assessment report, assistance plan), each of which re-grades; each
takes a note, and the case's records are read back with their notes, every read on the ledger."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from services.assessment import tables as t
from services.assessment.assess import CaseNotFound, Resources, history, record_needs, set_override
from services.assessment.grading import Override
from shared.access import (
    PERSONAL_READ,
    Purpose,
    Reading,
    RecordedRead,
    case_reading,
    read_answers,
    read_case_notes,
)
from shared.auth import CASE_READERS, CASE_SIDE, SUPERVISORS, Principal, require_role
from shared.contracts.events import RiskFactor
from shared.contracts.vocabulary import (
    VISITED_IN_THE_FUTURE,
    Agency,
    GuardianshipGap,
    Indicator,
    Need,
    PastMoment,
    ReasonCode,
    RiskLevel,
    Stage,
)
from shared.http import answers
from shared.notes import NoteText, sealed_notes, texts_by_record
from shared.service import ServiceContext, service_context

router = APIRouter(prefix="/v1/cases/{case_id}", tags=["assessment"])

Readers = require_role(*CASE_READERS)
Caseworkers = require_role(*CASE_SIDE)
Supervisors = require_role(*SUPERVISORS)
Ctx = Annotated[ServiceContext[Resources], Depends(service_context)]
# A case's record, changed with a body.
WITH_BODY = answers(404, 413)


class GradeRecord(BaseModel):
    assessment_id: uuid.UUID
    cause: str
    risk_level: RiskLevel
    computed_level: RiskLevel
    overridden: bool
    score: int
    factors: list[RiskFactor]
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


@router.get(
    "/assessment",
    response_model=CaseAssessment,
    responses=answers(404),
    summary="The case's current grade and every grade before it",
)
async def get_assessment(
    case_id: uuid.UUID, principal: Annotated[Principal, Depends(Readers)], ctx: Ctx
) -> CaseAssessment:
    async with ctx.sessions() as session:
        row = (await session.execute(select(t.cases).where(t.cases.c.case_id == case_id))).first()
        if row is None or not principal.can_see(row.jurisdiction):
            raise HTTPException(status_code=404, detail=f"no case {case_id} in your territory")
        records = await history(session, case_id)
    latest = records[-1]
    return CaseAssessment(
        case_id=case_id,
        jurisdiction=row.jurisdiction,
        stage=row.stage,
        risk_level=row.risk_level,
        initial_risk_level=row.computed_level,
        override_reason=row.override_reason,
        emergency=row.emergency,
        needs=latest["needs"],
        response_due_at=row.response_due_at,
        history=[
            GradeRecord(assessment_id=r["id"], **{k: r[k] for k in GradeRecord.model_fields if k in r})
            for r in records
        ],
    )


class OverrideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    risk_level: RiskLevel
    reason: ReasonCode = Field(description="why, as a reason code (free text could carry personal data)")
    note: NoteText = None


async def _respond(ctx: ServiceContext, case_id: uuid.UUID, principal: Principal, action) -> CaseAssessment:
    try:
        async with ctx.unit_of_work() as work:
            await action(work)
    except CaseNotFound as exc:
        raise _not_found(exc) from None
    except ValueError as exc:  # a rule of the override path refused it
        raise HTTPException(
            status_code=422, detail=[{"loc": ["body", "risk_level"], "msg": str(exc), "type": "value_error"}]
        ) from None
    return await get_assessment(case_id, principal, ctx)


@router.post(
    "/override",
    response_model=CaseAssessment,
    responses=WITH_BODY,
    summary="A supervisor sets the grade, with a reason",
)
async def override_grade(
    case_id: uuid.UUID, body: OverrideRequest, principal: Annotated[Principal, Depends(Supervisors)], ctx: Ctx
) -> CaseAssessment:
    override = Override(risk_level=body.risk_level, reason=body.reason, by=principal.subject)
    return await _respond(
        ctx,
        case_id,
        principal,
        lambda work: set_override(
            work, case_id, ctx.resources, override=override, visible=principal.can_see, note=body.note
        ),
    )


@router.delete(
    "/override",
    response_model=CaseAssessment,
    responses=answers(404),
    summary="A supervisor returns the case to the rules' grade",
)
async def remove_override(
    case_id: uuid.UUID, principal: Annotated[Principal, Depends(Supervisors)], ctx: Ctx
) -> CaseAssessment:
    return await _respond(
        ctx,
        case_id,
        principal,
        lambda work: set_override(work, case_id, ctx.resources, override=None, visible=principal.can_see),
    )


class GuardianSituation(BaseModel):
    """The guardian as the home visit found them (监护情况): whether one is there, able and willing to
    care for the child, and why not when not — what guardianship intervention starts from."""

    model_config = ConfigDict(extra="forbid")

    present: bool = Field(description="A guardian lives with the child")
    able: bool = Field(description="Able to care for the child (health, means, freedom)")
    willing: bool = Field(description="Willing to care for the child")
    reason: GuardianshipGap | None = Field(
        default=None, description="Why not, when not present, able or willing; required then, and only then"
    )

    @model_validator(mode="after")
    def _why_not(self) -> GuardianSituation:
        if (self.present and self.able and self.willing) != (self.reason is None):
            raise ValueError(
                "reason is required when the guardian is not present, able or willing, and only then"
            )
        return self


class HomeVisit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visited_at: PastMoment
    indicators: list[Indicator] = Field(default_factory=list, description="risks the visit found")
    needs: list[Need] = Field(default_factory=list, description="needs the visit found")
    findings: list[ReasonCode] = Field(default_factory=list, max_length=50, description="coded findings")
    guardian: GuardianSituation | None = Field(default=None, description="The guardian's situation")
    note: NoteText = None


class AssessmentReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    indicators: list[Indicator] = Field(default_factory=list)
    needs: list[Need] = Field(default_factory=list)
    conclusions: list[ReasonCode] = Field(default_factory=list, max_length=50)
    note: NoteText = None


class PlanItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    need: Need
    agencies: list[Agency] = Field(min_length=1)
    action: ReasonCode


class AssistancePlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[PlanItem] = Field(min_length=1, max_length=50)
    note: NoteText = None


def _needs_route(kind: str, stage: Stage, summary: str):
    async def record(
        case_id: uuid.UUID, body: Any, principal: Principal, ctx: ServiceContext
    ) -> CaseAssessment:
        indicators = getattr(body, "indicators", [])
        needs = getattr(body, "needs", None) or [item.need for item in getattr(body, "items", [])]
        occurred_at = getattr(body, "visited_at", None) or datetime.now(UTC)
        # The codes only: the note is sealed in its own table, never kept in clear with them.
        details = body.model_dump(
            mode="json", exclude={"indicators", "needs", "visited_at", "note"}, exclude_none=True
        )
        return await _respond(
            ctx,
            case_id,
            principal,
            lambda work: record_needs(
                work,
                case_id,
                ctx.resources,
                kind=kind,
                stage=stage,
                occurred_at=occurred_at,
                indicators=indicators,
                needs=needs,
                details=details,
                by=principal.subject,
                visible=principal.can_see,
                note=body.note,
            ),
        )

    record.__doc__ = summary
    return record


_record_visit = _needs_route(
    "home_visit", Stage.needs_assessment, "Record a home visit; the case is re-graded."
)
_record_report = _needs_route("assessment_report", Stage.needs_assessment, "Record the assessment report.")
_record_plan = _needs_route(
    "plan", Stage.plan, "Record the assistance plan; the case moves to the plan stage."
)


@router.post(
    "/home-visits",
    response_model=CaseAssessment,
    status_code=201,
    responses=answers(404, 413, 422, described={422: VISITED_IN_THE_FUTURE}),
    summary="Record a home visit",
)
async def record_home_visit(
    case_id: uuid.UUID, body: HomeVisit, principal: Annotated[Principal, Depends(Caseworkers)], ctx: Ctx
) -> CaseAssessment:
    return await _record_visit(case_id, body, principal, ctx)


@router.post(
    "/assessment-reports",
    response_model=CaseAssessment,
    status_code=201,
    responses=WITH_BODY,
    summary="Record the written assessment report",
)
async def record_assessment_report(
    case_id: uuid.UUID,
    body: AssessmentReport,
    principal: Annotated[Principal, Depends(Caseworkers)],
    ctx: Ctx,
) -> CaseAssessment:
    return await _record_report(case_id, body, principal, ctx)


@router.post(
    "/plans",
    response_model=CaseAssessment,
    status_code=201,
    responses=WITH_BODY,
    summary="Record the assistance plan",
)
async def record_plan(
    case_id: uuid.UUID, body: AssistancePlan, principal: Annotated[Principal, Depends(Caseworkers)], ctx: Ctx
) -> CaseAssessment:
    return await _record_plan(case_id, body, principal, ctx)


# ---- the case's records, with their notes ----------------------------------------------------

NO_SUCH_CASE = "no case in your territory"


class Record(BaseModel):
    """A home visit, assessment report, plan or grade override, with the note written with it."""

    record_id: uuid.UUID
    kind: Literal["home_visit", "assessment_report", "plan", "override"]
    occurred_at: datetime = Field(description="When it happened: the visit's date; else when it was recorded")
    recorded_by: str = Field(description="Pseudonymous id of who recorded it")
    recorded_at: datetime
    indicators: list[Indicator]
    needs: list[Need]
    details: dict[str, Any] = Field(
        description="The coded content: a visit's findings, a report's "
        "conclusions, a plan's items, an override's grade and the "
        "rules' grade"
    )
    note: str | None


class CaseRecords(RecordedRead):
    case_id: uuid.UUID
    records: list[Record] = Field(description="Newest first")


async def _sealed_records(session, reading: Reading):
    needs_records = (
        await session.execute(select(t.needs_records).where(t.needs_records.c.case_id == reading.case_id))
    ).all()
    a = t.assessments.c
    overrides = (
        await session.execute(
            select(t.assessments).where(a.case_id == reading.case_id, a.cause == "override")
        )
    ).all()
    return needs_records, overrides, await sealed_notes(session, t.notes, reading.case_id)


@router.get(
    "/records",
    response_model=CaseRecords,
    dependencies=PERSONAL_READ,
    responses=read_answers(NO_SUCH_CASE),
    summary="The case's home visits, assessment reports, plans and grade overrides, with their "
    "notes; newest first",
)
async def read_records(
    case_id: uuid.UUID, purpose: Purpose, principal: Annotated[Principal, Depends(Caseworkers)], ctx: Ctx
) -> CaseRecords:
    """For the caseworkers and supervisors whose territory covers the case. The read is on the access
    ledger before any note is opened; a refused one (another territory) too, answered 404."""
    access_id, (needs_records, overrides, sealed) = await read_case_notes(
        ctx,
        principal,
        purpose,
        find=lambda session: case_reading(session, principal, case_id, t.cases),
        load=_sealed_records,
        not_found=NO_SUCH_CASE,
    )
    notes = texts_by_record(ctx.resources.cipher, sealed)
    records = [
        Record(
            record_id=r.id,
            kind=r.kind,
            occurred_at=r.occurred_at,
            recorded_by=r.recorded_by,
            recorded_at=r.recorded_at,
            indicators=r.indicators,
            needs=r.needs,
            details=r.details,
            note=notes.get(r.id),
        )
        for r in needs_records
    ]
    records += [
        Record(
            record_id=r.id,
            kind="override",
            occurred_at=r.created_at,
            recorded_by=r.caused_by,
            recorded_at=r.created_at,
            indicators=[],
            needs=[],
            note=notes.get(r.id),
            details={"risk_level": r.risk_level, "computed_level": r.computed_level},
        )
        for r in overrides
    ]
    records.sort(key=lambda r: (r.occurred_at, r.recorded_at), reverse=True)
    return CaseRecords(case_id=case_id, access_id=access_id, purpose=purpose, records=records)
