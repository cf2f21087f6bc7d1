"""The guardian's situation a home visit records (监护情况): present, able and willing, and why not when
one is missing — a reason is required then and refused otherwise, so the record says one thing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.assessment.api import GuardianSituation, HomeVisit


def test_a_guardian_missing_able_or_willing_needs_the_reason_and_one_there_takes_none() -> None:
    away = GuardianSituation(present=False, able=True, willing=True, reason="working_away")
    assert away.reason == "working_away"
    with pytest.raises(ValidationError, match="reason is required when the guardian is not present"):
        GuardianSituation(present=True, able=True, willing=False)
    with pytest.raises(ValidationError, match="reason is required when the guardian is not present"):
        GuardianSituation(present=True, able=True, willing=True, reason="no_means")
    with pytest.raises(ValidationError):
        GuardianSituation(present=False, able=True, willing=True, reason="gone fishing")


def test_a_home_visit_may_say_nothing_of_the_guardian() -> None:
    visit = HomeVisit.model_validate({"visited_at": "2026-12-01T02:00:00Z"})
    assert visit.guardian is None


def test_the_home_visit_form_sends_the_guardian_only_when_it_says_something() -> None:
    from starlette.datastructures import FormData

    from services.console.views.cases import guardian_of

    assert guardian_of(FormData([("hv_needs", "education")])) == {}, "not recorded: nothing is sent"
    away = FormData(
        [("hv_guardian_able", "on"), ("hv_guardian_willing", "on"), ("hv_guardian_reason", "working_away")]
    )
    assert guardian_of(away) == {
        "guardian": {"present": False, "able": True, "willing": True, "reason": "working_away"}
    }
    # Ticked short of all three without a reason: sent as it is, for assessment's 422 beside the reason.
    assert guardian_of(FormData([("hv_guardian_present", "on")]))["guardian"]["reason"] is None
