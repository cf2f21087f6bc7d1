"""Assessment's decisions, pure: how a report or a request for reassessment changes a case's
facts, and what grading them yields — the new state, the history row and `case.assessed`.

No I/O here: the shell (assess.py) loads the cases of a whole batch, threads each event
through these functions in offset order, and saves once.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from services.assessment.grading import (
    CaseFacts,
    Override,
    RuleSet,
    current_level,
    grade,
    override_is_valid,
    response_due_at,
)
from shared.contracts.events import CaseAssessed, CaseReassessmentRequested, CaseReported
from shared.contracts.vocabulary import Category, Need, RiskLevel, Stage, advance_stage
from shared.db.rows import TableRow


class CaseNotFound(LookupError):
    pass


@dataclass(frozen=True)
class CaseState(TableRow):
    """One row of `assessment.cases`: a case's grading facts and its current grade."""

    case_id: uuid.UUID
    jurisdiction: str
    age_years: int | None = None
    categories: tuple[str, ...] = ()
    indicators: tuple[str, ...] = ()  # every indicator ever evidenced
    needs_found: tuple[str, ...] = ()
    reports: int = 0
    earlier_reports: int = 0
    stage: str | None = None
    computed_level: str | None = None
    risk_level: str | None = None
    score: int = 0
    emergency: bool = False
    rule_set_version: str | None = None
    override_level: str | None = None
    override_reason: str | None = None
    override_by: str | None = None
    override_base_level: str | None = None
    response_due_at: datetime | None = None
    case_number: str | None = None  # intake's, from case.reported: on every case.assessed
    child_ref: uuid.UUID | None = None  # the latest report's: on every case.assessed and the access ledger
    gradings: int = 0  # how many times the case has been graded: case.assessed's version
    updated_at: datetime | None = field(default=None, compare=False)

    SEQUENCES: ClassVar[tuple[str, ...]] = ("categories", "indicators", "needs_found")

    def without_override(self) -> CaseState:
        return dataclasses.replace(
            self, override_level=None, override_reason=None, override_by=None, override_base_level=None
        )

    def with_override(self, override: Override) -> CaseState:
        """The supervisor's grade in force, over the rules' grade it was given against."""
        return dataclasses.replace(
            self,
            override_level=override.risk_level.value,
            override_reason=override.reason,
            override_by=override.by,
            override_base_level=self.computed_level,
        )

    def override(self) -> Override | None:
        if not self.override_level:
            return None
        return Override(
            risk_level=RiskLevel(self.override_level), reason=self.override_reason, by=self.override_by
        )


@dataclass(frozen=True)
class Regraded:
    """What grading a case once yields: its new state, the history row, the event."""

    state: CaseState
    assessment: dict[str, Any]
    event: CaseAssessed


def union(*values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({str(v) for group in values for v in group}))


def with_report(state: CaseState | None, report: CaseReported) -> CaseState:
    """The case's facts once `report` is added (a new case when there is none yet)."""
    state = state or CaseState(case_id=report.case_id, jurisdiction=report.jurisdiction)
    return dataclasses.replace(
        state,
        jurisdiction=state.jurisdiction or report.jurisdiction,
        case_number=state.case_number or report.case_number,  # a case keeps the number it opened with
        child_ref=report.child_ref,
        age_years=report.age_years if report.age_years is not None else state.age_years,
        categories=union(state.categories, report.categories),
        indicators=union(state.indicators, report.indicators),
        reports=state.reports + 1,
        earlier_reports=max(state.earlier_reports, report.earlier_reports),
        stage=advance_stage(state.stage, Stage.written_review).value,
    )


def with_reassessment(state: CaseState | None, request: CaseReassessmentRequested) -> CaseState:
    if state is None:
        raise CaseNotFound(f"case {request.case_id} was never graded here")
    return dataclasses.replace(
        state,
        indicators=union(state.indicators, request.indicators),
        needs_found=union(state.needs_found, request.unmet_needs),
    )


def regraded(
    state: CaseState,
    rules: RuleSet,
    *,
    now: datetime,
    cause: str,
    caused_by: str,
    validate_override: bool = False,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
) -> Regraded:
    """Grade the case's facts with the rule set; apply its override, or let it lapse."""
    facts = CaseFacts(
        categories=frozenset(state.categories),
        indicators=frozenset(state.indicators),
        age_years=state.age_years,
        earlier_reports=state.earlier_reports,
    )
    graded = grade(rules, facts)
    if state.override_base_level and state.override_base_level != graded.risk_level.value:
        # New evidence changed the rules' grade: the supervisor's judgement was about the old
        # facts, so it lapses (and stays in the history) rather than silently masking them.
        state = state.without_override()
    override = state.override()
    if validate_override and override is not None:
        override_is_valid(graded, override)
    level, overridden = current_level(graded.risk_level, override)
    due = response_due_at(rules, level, now, jurisdiction=state.jurisdiction)
    needs = union([n.value for n in graded.needs], state.needs_found)
    factors = [f.model_dump() for f in graded.factors]
    stage = Stage(state.stage or Stage.written_review)
    state = dataclasses.replace(
        state,
        computed_level=graded.risk_level.value,
        risk_level=level.value,
        score=graded.score,
        emergency=graded.emergency,
        rule_set_version=graded.rule_set_version,
        response_due_at=due,
        stage=stage.value,
        gradings=state.gradings + 1,
        updated_at=now,
    )
    assessment_id = new_id()
    assessment = {
        "id": assessment_id,
        "case_id": state.case_id,
        "cause": cause,
        "caused_by": caused_by,
        "risk_level": level.value,
        "computed_level": graded.risk_level.value,
        "overridden": overridden,
        "score": graded.score,
        "factors": factors,
        "needs": list(needs),
        "emergency": graded.emergency,
        "rule_set_version": graded.rule_set_version,
        "stage": stage.value,
        "response_due_at": due,
    }
    event = CaseAssessed(
        case_id=state.case_id,
        assessment_id=assessment_id,
        jurisdiction=state.jurisdiction,
        categories=[Category(c) for c in state.categories],
        risk_level=level,
        initial_risk_level=graded.risk_level,
        overridden=overridden,
        override_reason=state.override_reason if overridden else None,
        score=graded.score,
        factors=list(graded.factors),
        rule_set_version=graded.rule_set_version,
        needs=[Need(n) for n in needs],
        emergency=graded.emergency,
        response_due_at=due,
        stage=stage,
        case_number=state.case_number,
        child_ref=state.child_ref,
        version=state.gradings,
    )
    return Regraded(state=state, assessment=assessment, event=event)
