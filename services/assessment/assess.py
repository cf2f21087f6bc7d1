"""Assessment's handlers: merge new evidence into a case's facts, grade it with the rule set,
apply (or lapse) a supervisor's override, move the casework stage, and stage `case.assessed`."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.assessment import tables as t
from services.assessment.grading import CaseFacts, Override, RuleSet, current_level, grade, response_due_at
from shared.contracts.envelope import Envelope, new_envelope
from shared.contracts.events import CaseAssessed, CaseReassessmentRequested, CaseReported, RiskFactor
from shared.contracts.vocabulary import Category, Indicator, Need, RiskLevel, Stage, advance_stage
from shared.db.tables import outbox_table
from shared.messaging.outbox import add_events

PRODUCER = "assessment"
OUTBOX = outbox_table(t.metadata)


@dataclass(frozen=True)
class Resources:
    rules: RuleSet
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


class CaseNotFound(LookupError):
    pass


def _union(*values: Iterable[str]) -> list[str]:
    return sorted({v for group in values for v in group})


async def _locked_case(session: AsyncSession, case_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await session.execute(select(t.cases).where(t.cases.c.case_id == case_id).with_for_update())).first()
    return dict(row._mapping) if row is not None else None


async def on_case_reported(session: AsyncSession, event: Envelope[CaseReported], res: Resources) -> None:
    report = event.payload
    case = await _locked_case(session, report.case_id) or {"case_id": report.case_id, "needs_found": [],
                                                          "reports": 0, "categories": [], "indicators": []}
    case.update(
        jurisdiction=case.get("jurisdiction") or report.jurisdiction,
        age_years=report.age_years if report.age_years is not None else case.get("age_years"),
        categories=_union(case["categories"], report.categories),
        indicators=_union(case["indicators"], report.indicators),
        reports=case["reports"] + 1,
        earlier_reports=max(case.get("earlier_reports") or 0, report.earlier_reports),
        stage=advance_stage(case.get("stage"), Stage.written_review),
    )
    await regrade(session, case, res, cause="report", caused_by=str(event.event_id), causation=event)


async def on_reassessment_requested(session: AsyncSession, event: Envelope[CaseReassessmentRequested],
                                    res: Resources) -> None:
    request = event.payload
    case = await _locked_case(session, request.case_id)
    if case is None:
        raise CaseNotFound(f"case {request.case_id} was never graded here")
    case.update(indicators=_union(case["indicators"], request.indicators),
                needs_found=_union(case["needs_found"], request.unmet_needs))
    await regrade(session, case, res, cause="reassessment", caused_by=str(event.event_id), causation=event)


async def record_needs(session: AsyncSession, case_id: uuid.UUID, res: Resources, *, kind: str, stage: Stage,
                       occurred_at: datetime, indicators: Iterable[Indicator], needs: Iterable[Need],
                       details: dict[str, Any], by: str, visible: Callable[[str], bool]) -> dict[str, Any]:
    """A home visit, assessment report or plan: recorded, merged into the facts, re-graded."""
    case = await _locked_case(session, case_id)
    if case is None or not visible(case["jurisdiction"]):
        raise CaseNotFound(f"no case {case_id} in your territory")
    indicators, needs = list(indicators), list(needs)
    await session.execute(insert(t.needs_records).values(
        id=uuid.uuid4(), case_id=case_id, kind=kind, occurred_at=occurred_at, indicators=[str(i) for i in indicators],
        needs=[str(n) for n in needs], details=details, recorded_by=by))
    case.update(indicators=_union(case["indicators"], indicators), needs_found=_union(case["needs_found"], needs),
                stage=advance_stage(case["stage"], stage))
    return await regrade(session, case, res, cause=kind, caused_by=by)


async def set_override(session: AsyncSession, case_id: uuid.UUID, res: Resources, *, override: Override | None,
                       visible: Callable[[str], bool]) -> dict[str, Any]:
    """A supervisor's grade (or its removal). The rules' grade stays on record beside it."""
    case = await _locked_case(session, case_id)
    if case is None or not visible(case["jurisdiction"]):
        raise CaseNotFound(f"no case {case_id} in your territory")
    if override is None:
        case.update(override_level=None, override_reason=None, override_by=None, override_base_level=None)
        return await regrade(session, case, res, cause="override_removed", caused_by="supervisor")
    case.update(override_level=override.risk_level.value, override_reason=override.reason, override_by=override.by,
                override_base_level=case["computed_level"])
    return await regrade(session, case, res, cause="override", caused_by=override.by, validate_override=True)


def _override_of(case: dict[str, Any]) -> Override | None:
    if not case.get("override_level"):
        return None
    return Override(risk_level=RiskLevel(case["override_level"]), reason=case["override_reason"],
                    by=case["override_by"])


async def regrade(session: AsyncSession, case: dict[str, Any], res: Resources, *, cause: str, caused_by: str,
                  causation: Envelope | None = None, validate_override: bool = False) -> dict[str, Any]:
    facts = CaseFacts(categories=frozenset(Category(c) for c in case["categories"]),
                      indicators=frozenset(Indicator(i) for i in case["indicators"]),
                      age_years=case.get("age_years"), earlier_reports=case.get("earlier_reports") or 0)
    graded = grade(res.rules, facts)
    if case.get("override_base_level") and case["override_base_level"] != graded.risk_level.value:
        # New evidence changed the rules' grade: the supervisor's judgement was about the old
        # facts, so it lapses (and stays in the history) rather than silently masking them.
        case.update(override_level=None, override_reason=None, override_by=None, override_base_level=None)
    override = _override_of(case)
    if validate_override and override is not None:
        from services.assessment.grading import override_is_valid

        override_is_valid(graded, override)
    level, overridden = current_level(graded.risk_level, override)
    now = res.clock()
    due = response_due_at(res.rules, level, now, jurisdiction=case["jurisdiction"])
    needs = _union([n.value for n in graded.needs], case.get("needs_found") or [])
    factors = [{"code": f.code, "weight": f.weight, "explanation": f.explanation} for f in graded.factors]
    stage = Stage(case.get("stage") or Stage.written_review)
    assessment_id = uuid.uuid4()
    case.update(computed_level=graded.risk_level.value, risk_level=level.value, score=graded.score,
                emergency=graded.emergency, rule_set_version=graded.rule_set_version, response_due_at=due,
                stage=stage.value, updated_at=now)
    columns = {c.name for c in t.cases.columns}
    row = {k: v for k, v in case.items() if k in columns}
    await session.execute(pg_insert(t.cases).values(**row).on_conflict_do_update(
        index_elements=[t.cases.c.case_id], set_={k: v for k, v in row.items() if k != "case_id"}))
    await session.execute(insert(t.assessments).values(
        id=assessment_id, case_id=case["case_id"], cause=cause, caused_by=caused_by, risk_level=level.value,
        computed_level=graded.risk_level.value, overridden=overridden, score=graded.score, factors=factors,
        needs=needs, emergency=graded.emergency, rule_set_version=graded.rule_set_version, stage=stage.value,
        response_due_at=due))
    payload = CaseAssessed(
        case_id=case["case_id"], assessment_id=assessment_id, jurisdiction=case["jurisdiction"],
        categories=[Category(c) for c in case["categories"]], risk_level=level, initial_risk_level=graded.risk_level,
        overridden=overridden, override_reason=case.get("override_reason") if overridden else None,
        score=graded.score, factors=[RiskFactor(**f) for f in factors], rule_set_version=graded.rule_set_version,
        needs=[Need(n) for n in needs], emergency=graded.emergency, response_due_at=due, stage=stage,
    )
    await add_events(session, OUTBOX, new_envelope(payload, case_id=case["case_id"], producer=PRODUCER,
                                                   causation=causation))
    return case


async def history(session: AsyncSession, case_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(select(t.assessments).where(t.assessments.c.case_id == case_id)
                                 .order_by(t.assessments.c.created_at, t.assessments.c.id))
    return [dict(r._mapping) for r in rows]


async def count_cases(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(t.cases))
