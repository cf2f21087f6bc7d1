"""The case number in referral's pure decisions (services/referral/decide.py): learned from the grade,
kept by the case, copied onto each referral, and carried on referral.created and referral.withdrawn."""

from __future__ import annotations

import dataclasses
import uuid

from services.referral.decide import CaseReferrals, case_closed, route, withdraw
from shared.contracts.events import CaseAssessed, ReferralCreated, ReferralWithdrawn
from shared.contracts.vocabulary import Category, RiskLevel, WithdrawalReason
from tests.unit.test_referral_decide import NOW, POLICY, closed, graded

NUMBER = "140402-2026-00123"


def numbered(grade: CaseAssessed, number: str | None = NUMBER) -> CaseAssessed:
    return grade.model_copy(update={"case_number": number})


def test_a_grade_s_number_is_kept_with_the_case_on_each_referral_and_on_referral_created() -> None:
    case_id = uuid.uuid4()
    grade = numbered(graded(case_id, RiskLevel.red, emergency=True))
    decision = route(CaseReferrals(case_id), grade, POLICY, NOW)
    assert decision.state.case.case_number == NUMBER
    assert decision.events and {e.case_number for e in decision.events} == {NUMBER}
    assert {r.case_number for r in decision.state.referrals} == {NUMBER}
    assert decision.state.referrals[0].as_row()["case_number"] == NUMBER


def test_a_later_grade_without_a_number_keeps_the_case_s_and_new_referrals_take_it() -> None:
    case_id = uuid.uuid4()
    first = route(CaseReferrals(case_id), numbered(graded(case_id)), POLICY, NOW).state
    regrade = graded(case_id, RiskLevel.red, emergency=True, categories=(Category.abuse,))
    decision = route(first, numbered(regrade, None), POLICY, NOW)
    new = [e for e in decision.events if isinstance(e, ReferralCreated)]
    assert decision.state.case.case_number == NUMBER and new
    assert {e.case_number for e in new} == {NUMBER}


def test_an_open_referral_made_before_cases_had_numbers_learns_it_from_the_grade_that_brings_it() -> None:
    case_id = uuid.uuid4()
    before = route(CaseReferrals(case_id), graded(case_id), POLICY, NOW).state
    assert {r.case_number for r in before.referrals} == {None}
    after = route(before, numbered(graded(case_id)), POLICY, NOW)
    assert after.events == () and {r.case_number for r in after.state.referrals} == {NUMBER}


def test_a_withdrawal_carries_the_case_number_to_the_agency() -> None:
    case_id = uuid.uuid4()
    state = route(
        CaseReferrals(case_id), numbered(graded(case_id, RiskLevel.red, emergency=True)), POLICY, NOW
    ).state
    first = state.referrals[0]
    by_hand = withdraw(state, first.id, WithdrawalReason.wrong_agency, by="u-1", now=NOW)
    by_rule = case_closed(state, closed(case_id), NOW)
    told = [e for d in (by_hand, by_rule) for e in d.events if isinstance(e, ReferralWithdrawn)]
    assert len(told) == 1 + len(state.referrals)
    assert {e.case_number for e in told} == {NUMBER}
    unnumbered = dataclasses.replace(
        state, referrals=tuple(dataclasses.replace(r, case_number=None) for r in state.referrals)
    )
    (_, withdrawn) = withdraw(unnumbered, first.id, WithdrawalReason.wrong_agency, by="u-1", now=NOW).events
    assert withdrawn.case_number is None, "a referral made before cases had numbers has none to tell"
