"""Follow-up rules: the default policy, the visit cadence by grade, when the first and later
visits are due (a re-grade changes the next one at once), when a visit is overdue, when a
case may close, and refusal of invalid policies naming the field."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.followup.schedule import (
    DEFAULT_POLICY,
    FollowupPolicy,
    PolicyError,
    cadence,
    load_policy,
    may_close,
    next_visit_due,
    overdue_at,
)
from shared.contracts.vocabulary import RiskLevel

POLICY = load_policy()
RESPONSE_DUE = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
HERE = "140402001001"  # a village with no territory settings of its own
LAST_VISIT = datetime(2026, 11, 20, 15, 45, tzinfo=UTC)
CLEAN2 = [False, False]


def _doc() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "followup.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _policy(tmp_path: Path, **changes: Any) -> FollowupPolicy:
    doc = copy.deepcopy(_doc())
    doc.update(changes)
    return load_policy(_write(tmp_path, doc))


# --- the default policy ---------------------------------------------------------------------


def test_default_policy_loads() -> None:
    assert DEFAULT_POLICY.is_file()
    assert isinstance(POLICY, FollowupPolicy)
    assert POLICY.version == "2026.11-1"
    assert POLICY.overdue_after_hours == 24
    assert POLICY.closure.clean_visits_required == 2


@pytest.mark.parametrize(
    ("level", "days"), [(RiskLevel.red, 7), (RiskLevel.orange, 14), (RiskLevel.blue, 30)]
)
def test_cadence_by_grade(level: RiskLevel, days: int) -> None:
    assert cadence(POLICY, level, jurisdiction=HERE) == timedelta(days=days)


def test_a_higher_grade_is_visited_more_often() -> None:
    assert (
        cadence(POLICY, RiskLevel.red, jurisdiction=HERE)
        < cadence(POLICY, RiskLevel.orange, jurisdiction=HERE)
        < cadence(POLICY, RiskLevel.blue, jurisdiction=HERE)
    )


# --- when visits are due ------------------------------------------------------------------------


@pytest.mark.parametrize("level", list(RiskLevel))
def test_the_first_visit_is_due_at_the_response_deadline(level: RiskLevel) -> None:
    assert (
        next_visit_due(POLICY, level, jurisdiction=HERE, response_due_at=RESPONSE_DUE, last_visit_at=None)
        == RESPONSE_DUE
    )


@pytest.mark.parametrize(
    ("level", "days"), [(RiskLevel.red, 7), (RiskLevel.orange, 14), (RiskLevel.blue, 30)]
)
def test_a_later_visit_is_due_a_cadence_after_the_last_one(level: RiskLevel, days: int) -> None:
    due = next_visit_due(
        POLICY, level, jurisdiction=HERE, response_due_at=RESPONSE_DUE, last_visit_at=LAST_VISIT
    )
    assert due == LAST_VISIT + timedelta(days=days)


def test_a_late_visit_moves_the_next_one_later_not_the_original_plan() -> None:
    late = RESPONSE_DUE + timedelta(days=3)
    assert next_visit_due(
        POLICY, RiskLevel.orange, jurisdiction=HERE, response_due_at=RESPONSE_DUE, last_visit_at=late
    ) == late + timedelta(days=14)


def test_a_regrade_from_blue_to_red_makes_the_next_visit_earlier() -> None:
    as_blue = next_visit_due(
        POLICY, RiskLevel.blue, jurisdiction=HERE, response_due_at=RESPONSE_DUE, last_visit_at=LAST_VISIT
    )
    as_red = next_visit_due(
        POLICY, RiskLevel.red, jurisdiction=HERE, response_due_at=RESPONSE_DUE, last_visit_at=LAST_VISIT
    )
    assert as_red == LAST_VISIT + timedelta(days=7)
    assert as_red < as_blue


def test_a_regrade_from_red_to_blue_makes_the_next_visit_later() -> None:
    as_red = next_visit_due(
        POLICY, RiskLevel.red, jurisdiction=HERE, response_due_at=RESPONSE_DUE, last_visit_at=LAST_VISIT
    )
    as_blue = next_visit_due(
        POLICY, RiskLevel.blue, jurisdiction=HERE, response_due_at=RESPONSE_DUE, last_visit_at=LAST_VISIT
    )
    assert as_blue == LAST_VISIT + timedelta(days=30)
    assert as_blue > as_red


def test_cadence_comes_from_the_policy_not_the_code(tmp_path: Path) -> None:
    policy = _policy(tmp_path, cadence_days={"red": 3, "orange": 10, "blue": 60})
    assert next_visit_due(
        policy, RiskLevel.red, jurisdiction=HERE, response_due_at=RESPONSE_DUE, last_visit_at=LAST_VISIT
    ) == LAST_VISIT + timedelta(days=3)
    assert next_visit_due(
        policy, RiskLevel.blue, jurisdiction=HERE, response_due_at=RESPONSE_DUE, last_visit_at=LAST_VISIT
    ) == LAST_VISIT + timedelta(days=60)


# --- overdue ------------------------------------------------------------------------------------


def test_overdue_at_adds_the_grace() -> None:
    assert overdue_at(POLICY, RESPONSE_DUE) == RESPONSE_DUE + timedelta(hours=24)


def test_overdue_grace_comes_from_the_policy(tmp_path: Path) -> None:
    assert overdue_at(_policy(tmp_path, overdue_after_hours=0), RESPONSE_DUE) == RESPONSE_DUE
    assert overdue_at(_policy(tmp_path, overdue_after_hours=6), RESPONSE_DUE) == RESPONSE_DUE + timedelta(
        hours=6
    )


# --- closure ------------------------------------------------------------------------------------


def test_a_blue_case_with_no_open_referrals_and_two_clean_visits_may_close() -> None:
    assert may_close(POLICY, risk_level=RiskLevel.blue, open_referrals=0, visits_found_risk=CLEAN2)


@pytest.mark.parametrize("level", [RiskLevel.red, RiskLevel.orange])
def test_only_a_blue_case_may_close(level: RiskLevel) -> None:
    assert not may_close(POLICY, risk_level=level, open_referrals=0, visits_found_risk=[False] * 5)


@pytest.mark.parametrize("open_referrals", [1, 3])
def test_an_open_referral_keeps_the_case_open(open_referrals: int) -> None:
    assert not may_close(
        POLICY, risk_level=RiskLevel.blue, open_referrals=open_referrals, visits_found_risk=[False] * 5
    )


@pytest.mark.parametrize(
    "visits",
    [
        [],  # never visited
        [False],  # one clean visit is not enough
        [False, True],  # the newest visit found risk
        [True, False],  # the one before found risk
        [False, False, True],  # the newest of three found risk
    ],
)
def test_visits_that_are_too_few_or_risky_keep_the_case_open(visits: list[bool]) -> None:
    assert not may_close(POLICY, risk_level=RiskLevel.blue, open_referrals=0, visits_found_risk=visits)


@pytest.mark.parametrize(
    "visits",
    [
        [True, False, False],
        [True, True, True, False, False],
        [False, True, False, False],
    ],
)
def test_an_old_risky_visit_before_two_clean_ones_does_not_block_closure(visits: list[bool]) -> None:
    assert may_close(POLICY, risk_level=RiskLevel.blue, open_referrals=0, visits_found_risk=visits)


def test_visits_may_be_any_sequence() -> None:
    assert may_close(
        POLICY, risk_level=RiskLevel.blue, open_referrals=0, visits_found_risk=(True, False, False)
    )


def test_the_number_of_clean_visits_comes_from_the_policy(tmp_path: Path) -> None:
    policy = _policy(tmp_path, closure={"clean_visits_required": 3})
    blue = {"risk_level": RiskLevel.blue, "open_referrals": 0}
    assert not may_close(policy, **blue, visits_found_risk=[False, False])
    assert not may_close(policy, **blue, visits_found_risk=[True, False, False])
    assert may_close(policy, **blue, visits_found_risk=[False, False, False])
    assert may_close(policy, **blue, visits_found_risk=[True, False, False, False])

    one = _policy(tmp_path, closure={"clean_visits_required": 1})
    assert may_close(one, **blue, visits_found_risk=[True, False])
    assert not may_close(one, **blue, visits_found_risk=[False, True])


# --- invalid policies are refused, naming the field -----------------------------------------


def _refused(tmp_path: Path, doc: dict[str, Any]) -> str:
    path = _write(tmp_path, doc)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    return message


def test_an_unmodified_copy_of_the_default_is_accepted(tmp_path: Path) -> None:
    assert load_policy(_write(tmp_path, _doc())) == POLICY


def test_a_missing_cadence_section_is_refused(tmp_path: Path) -> None:
    doc = copy.deepcopy(_doc())
    del doc["cadence_days"]
    assert "cadence_days" in _refused(tmp_path, doc)


@pytest.mark.parametrize("level", list(RiskLevel))
def test_a_missing_cadence_for_a_grade_is_refused(tmp_path: Path, level: RiskLevel) -> None:
    doc = copy.deepcopy(_doc())
    del doc["cadence_days"][level.value]
    message = _refused(tmp_path, doc)
    assert "cadence_days" in message
    assert level.value in message


@pytest.mark.parametrize(
    "cadence_days",
    [
        {"red": 30, "orange": 14, "blue": 7},  # red less frequent than blue
        {"red": 14, "orange": 7, "blue": 30},  # red less frequent than orange
        {"red": 7, "orange": 31, "blue": 30},  # orange less frequent than blue
    ],
)
def test_a_higher_grade_visited_less_often_is_refused(tmp_path: Path, cadence_days: dict[str, int]) -> None:
    doc = copy.deepcopy(_doc())
    doc["cadence_days"] = cadence_days
    message = _refused(tmp_path, doc)
    assert "cadence_days" in message


def test_equal_cadences_are_allowed(tmp_path: Path) -> None:
    policy = _policy(tmp_path, cadence_days={"red": 14, "orange": 14, "blue": 14})
    assert cadence(policy, RiskLevel.red, jurisdiction=HERE) == cadence(
        policy, RiskLevel.blue, jurisdiction=HERE
    )


def test_zero_day_cadence_is_refused(tmp_path: Path) -> None:
    doc = copy.deepcopy(_doc())
    doc["cadence_days"]["red"] = 0
    assert "cadence_days.red" in _refused(tmp_path, doc)


def test_clean_visits_required_zero_is_refused(tmp_path: Path) -> None:
    doc = copy.deepcopy(_doc())
    doc["closure"]["clean_visits_required"] = 0
    assert "closure.clean_visits_required" in _refused(tmp_path, doc)


def test_a_negative_overdue_grace_is_refused(tmp_path: Path) -> None:
    doc = copy.deepcopy(_doc())
    doc["overdue_after_hours"] = -1
    assert "overdue_after_hours" in _refused(tmp_path, doc)


def test_an_unknown_grade_in_cadence_is_refused(tmp_path: Path) -> None:
    doc = copy.deepcopy(_doc())
    doc["cadence_days"]["purple"] = 3
    assert "cadence_days" in _refused(tmp_path, doc)
