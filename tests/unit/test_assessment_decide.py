"""Assessment's pure decisions: how reports and reassessment requests change a case, and what
grading yields — several events of one case in a row, as a batch brings them."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.assessment.decide import CaseNotFound, CaseState, regraded, with_reassessment, with_report
from services.assessment.grading import Override, load_rules
from shared.contracts.events import CaseReassessmentRequested, CaseReported
from shared.contracts.vocabulary import Category, Channel, Indicator, Need, RiskLevel

RULES = load_rules()
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
VILLAGE = "140402001001"


def report(
    case_id: uuid.UUID,
    *,
    categories=(Category.left_behind,),
    indicators=(),
    earlier=0,
    age: int | None = 9,
    number: str | None = None,
) -> CaseReported:
    return CaseReported(
        case_id=case_id,
        report_id=uuid.uuid4(),
        child_ref=uuid.uuid4(),
        external_id="HL-1",
        channel=Channel.hotline,
        jurisdiction=VILLAGE,
        age_years=age,
        categories=list(categories),
        indicators=list(indicators),
        earlier_reports=earlier,
        reported_at=NOW,
        case_number=number,
    )


def reassessment(case_id: uuid.UUID, *, indicators=(), needs=()) -> CaseReassessmentRequested:
    return CaseReassessmentRequested(
        case_id=case_id,
        visit_id=None,
        indicators=list(indicators),
        unmet_needs=list(needs),
        reason="new_evidence",
        requested_at=NOW,
    )


def test_a_first_report_makes_a_case_in_written_review_graded_by_the_rules() -> None:
    case = uuid.uuid4()
    result = regraded(with_report(None, report(case)), RULES, now=NOW, cause="report", caused_by="e-1")
    assert result.state.case_id == case and result.state.reports == 1
    assert result.state.stage == "written_review" and result.event.stage == "written_review"
    assert result.event.risk_level == RiskLevel(result.state.risk_level) == result.event.initial_risk_level
    assert result.assessment["caused_by"] == "e-1" and result.assessment["id"] == result.event.assessment_id
    assert result.event.response_due_at > NOW


def test_events_of_one_case_in_a_row_each_build_on_the_state_the_one_before_left() -> None:
    case = uuid.uuid4()
    first = regraded(with_report(None, report(case)), RULES, now=NOW, cause="report", caused_by="e-1")
    second = regraded(
        with_report(
            first.state,
            report(case, categories=[Category.abuse], indicators=[Indicator.immediate_danger], earlier=1),
        ),
        RULES,
        now=NOW,
        cause="report",
        caused_by="e-2",
    )
    third = regraded(
        with_reassessment(second.state, reassessment(case, needs=[Need.legal])),
        RULES,
        now=NOW,
        cause="reassessment",
        caused_by="e-3",
    )
    assert second.state.reports == 2 and set(second.state.categories) == {"left_behind", "abuse"}
    assert second.event.risk_level is RiskLevel.red and second.event.emergency, "immediate danger forces red"
    assert third.state.reports == 2 and "immediate_danger" in third.state.indicators, (
        "evidence only accumulates"
    )
    assert Need.legal in third.event.needs
    assert len({first.event.assessment_id, second.event.assessment_id, third.event.assessment_id}) == 3


def test_every_grade_carries_how_many_times_the_case_has_been_graded_as_its_version() -> None:
    case = uuid.uuid4()
    first = regraded(with_report(None, report(case)), RULES, now=NOW, cause="report", caused_by="e-1")
    second = regraded(
        with_report(first.state, report(case, indicators=[Indicator.immediate_danger], earlier=1)),
        RULES,
        now=NOW + timedelta(hours=1),
        cause="report",
        caused_by="e-2",
    )
    third = regraded(
        second.state.with_override(Override(RiskLevel.red, "new_information", "u-1")),
        RULES,
        now=NOW + timedelta(hours=2),
        cause="override",
        caused_by="u-1",
    )
    assert [r.event.version for r in (first, second, third)] == [1, 2, 3]
    assert [r.state.gradings for r in (first, second, third)] == [1, 2, 3]
    assert with_report(third.state, report(case)).gradings == 3, "a report alone grades nothing"
    assert third.state.as_row()["gradings"] == 3


def test_a_reassessment_of_a_case_never_graded_here_is_refused() -> None:
    with pytest.raises(CaseNotFound):
        with_reassessment(None, reassessment(uuid.uuid4()))


def test_an_override_stands_while_the_facts_do_not_change_the_rules_grade_and_lapses_when_they_do() -> None:
    case = uuid.uuid4()
    graded = regraded(with_report(None, report(case)), RULES, now=NOW, cause="report", caused_by="e-1").state
    overridden = dataclasses.replace(
        graded,
        override_level="red",
        override_reason="supervisor_judgement",
        override_by="sup-1",
        override_base_level=graded.computed_level,
    )
    same_facts = regraded(overridden, RULES, now=NOW + timedelta(hours=1), cause="report", caused_by="e-2")
    assert same_facts.event.overridden and same_facts.event.risk_level is RiskLevel.red
    danger = with_report(overridden, report(case, indicators=[Indicator.immediate_danger]))
    lapsed = regraded(danger, RULES, now=NOW, cause="report", caused_by="e-3")
    assert graded.computed_level != "red", "the example needs a case the rules grade below red"
    assert not lapsed.event.overridden and lapsed.state.override_level is None
    assert lapsed.event.risk_level is RiskLevel.red, "the rules' grade rules again"


def test_the_state_round_trips_through_its_row() -> None:
    state = regraded(
        with_report(None, report(uuid.uuid4())), RULES, now=NOW, cause="report", caused_by="e"
    ).state
    assert CaseState.of_row(state.as_row()) == state


def test_every_grade_carries_the_case_number_the_first_report_gave() -> None:
    case = uuid.uuid4()
    numbered = report(case, number="140402-2026-00123")
    first = regraded(with_report(None, numbered), RULES, now=NOW, cause="report", caused_by="e-1")
    # A report published before intake numbered cases carries none: the case keeps its number.
    later = regraded(
        with_report(first.state, report(case, earlier=1)), RULES, now=NOW, cause="report", caused_by="e-2"
    )
    again = regraded(
        with_reassessment(later.state, reassessment(case, needs=[Need.legal])),
        RULES,
        now=NOW,
        cause="reassessment",
        caused_by="e-3",
    )
    overridden = regraded(
        first.state.with_override(Override(RiskLevel.red, "new_information", "u-1")),
        RULES,
        now=NOW,
        cause="override",
        caused_by="u-1",
        validate_override=True,
    )
    assert first.state.case_number == "140402-2026-00123"
    assert {r.event.case_number for r in (first, later, again, overridden)} == {"140402-2026-00123"}
    assert later.state.as_row()["case_number"] == "140402-2026-00123"


def test_a_case_graded_before_it_had_a_number_takes_the_one_a_later_report_brings() -> None:
    case = uuid.uuid4()
    first = regraded(with_report(None, report(case)), RULES, now=NOW, cause="report", caused_by="e-1")
    later = regraded(
        with_report(first.state, report(case, earlier=1, number="140402-2026-00007")),
        RULES,
        now=NOW,
        cause="report",
        caused_by="e-2",
    )
    assert (first.event.case_number, later.event.case_number) == (None, "140402-2026-00007")
