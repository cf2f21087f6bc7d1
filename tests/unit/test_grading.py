"""The grading rules: the default rule set, forcing indicators, every category and indicator,
the reference cases, explainability from factors alone, validation and the override path."""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.assessment.grading import (
    DEFAULT_RULES,
    CaseFacts,
    Grade,
    Override,
    RuleSetError,
    current_level,
    explain,
    grade,
    level_from_factors,
    load_rules,
    override_is_valid,
    response_due_at,
)
from shared.contracts.events import RiskFactor
from shared.contracts.vocabulary import REASON_CODE_PATTERN, Category, Indicator, Need, RiskLevel

RULES = load_rules()
HERE = "140402001001"  # a village with no territory settings of its own
FORCING = {
    Indicator.immediate_danger,
    Indicator.sexual_abuse_suspected,
    Indicator.trafficking_suspected,
    Indicator.self_harm_risk,
}
REASON_CODE = re.compile(REASON_CODE_PATTERN)


def facts(categories: Any = (), indicators: Any = (), age: int | None = 12, earlier: int = 0) -> CaseFacts:
    # Age 12 by default: the first age with no age factor, so a test sees only what it names.
    return CaseFacts(frozenset(categories), frozenset(indicators), age, earlier)


def codes(graded: Grade) -> set[str]:
    return {f.code for f in graded.factors}


LEFT_BEHIND_OUT_OF_SCHOOL = {
    "categories": [Category.left_behind],
    "indicators": [Indicator.out_of_school, Indicator.left_behind],
    "age": 10,
}
ABUSED_AND_INJURED = {
    "categories": [Category.abuse],
    "indicators": [Indicator.visible_injury, Indicator.domestic_violence],
    "age": 7,
}


# ---- the default rule set ---------------------------------------------------------------------


def test_the_default_rule_set_loads_with_a_version_and_a_rule_for_every_name() -> None:
    assert load_rules(DEFAULT_RULES) == RULES and RULES.version
    assert set(RULES.indicators) == set(Indicator)
    assert set(RULES.categories) == set(Category)
    assert set(RULES.needs.categories) == set(Category)
    assert set(RULES.needs.indicators) == set(Indicator)
    assert dict(RULES.response_hours) == {RiskLevel.red: 24, RiskLevel.orange: 72, RiskLevel.blue: 240}


def test_the_default_rule_set_forces_exactly_the_four_danger_indicators() -> None:
    assert set(RULES.forcing) == FORCING


# ---- forcing indicators, categories and indicators ------------------------------------------


@pytest.mark.parametrize("indicator", sorted(RULES.forcing))
@pytest.mark.parametrize("age", [None, 16])
def test_a_forcing_indicator_alone_makes_the_case_red_and_an_emergency(
    indicator: Indicator, age: int | None
) -> None:
    graded = grade(RULES, facts(indicators=[indicator], age=age))
    assert (graded.risk_level, graded.emergency) == (RiskLevel.red, True)
    assert f"forcing_{indicator}" in codes(graded)
    assert graded.score >= RULES.thresholds.red, "the score agrees with the forced level"


@pytest.mark.parametrize("category", list(Category))
def test_each_category_contributes_its_factor_and_its_needs(category: Category) -> None:
    graded = grade(RULES, facts(categories=[category]))
    rule = RULES.categories[category]
    assert [(f.code, f.weight, f.explanation) for f in graded.factors] == [
        (f"category_{category}", rule.weight, rule.why)
    ]
    assert set(RULES.needs.categories[category]) <= set(graded.needs)
    assert not graded.emergency, "a category alone is never an emergency"


@pytest.mark.parametrize("indicator", list(Indicator))
def test_each_indicator_contributes_exactly_one_factor_and_its_needs(indicator: Indicator) -> None:
    base = facts(categories=[Category.left_behind])
    without = grade(RULES, base)
    graded = grade(RULES, facts(categories=[Category.left_behind], indicators=[indicator]))
    mine = [f for f in graded.factors if f.code.endswith(f"_{indicator}") and f not in without.factors]
    forced = indicator in RULES.forcing
    rule = RULES.forcing[indicator] if forced else RULES.indicators[indicator]
    assert [(f.code, f.weight, f.explanation) for f in mine] == [
        (f"{'forcing' if forced else 'indicator'}_{indicator}", rule.weight, rule.why)
    ]
    assert rule.weight > 0
    assert graded.score == without.score + rule.weight
    assert set(RULES.needs.indicators[indicator]) <= set(graded.needs)


def test_every_factor_fits_the_contract() -> None:
    everything = facts(list(Category), list(Indicator), age=None, earlier=99)
    for graded in (grade(RULES, everything), grade(RULES, facts(list(Category), age=2, earlier=1))):
        for factor in graded.factors:
            assert REASON_CODE.match(factor.code), factor.code
            RiskFactor(code=factor.code, weight=factor.weight, explanation=factor.explanation)


# ---- the reference cases ----------------------------------------------------------------------


def test_a_left_behind_child_out_of_school_is_orange_or_blue_with_an_education_need() -> None:
    graded = grade(RULES, facts(**LEFT_BEHIND_OUT_OF_SCHOOL))
    assert graded.risk_level in (RiskLevel.orange, RiskLevel.blue)
    assert Need.education in graded.needs and not graded.emergency


def test_an_injured_child_in_a_violent_home_is_red_without_being_an_emergency() -> None:
    graded = grade(RULES, facts(**ABUSED_AND_INJURED))
    assert (graded.risk_level, graded.emergency) == (RiskLevel.red, False)
    assert {Need.legal, Need.psychological, Need.guardianship} <= set(graded.needs)


def test_earlier_reports_raise_the_score_up_to_the_cap() -> None:
    scores = [grade(RULES, facts(**LEFT_BEHIND_OUT_OF_SCHOOL, earlier=n)).score for n in range(10)]
    assert scores[3] > scores[0]
    assert grade(RULES, facts(**LEFT_BEHIND_OUT_OF_SCHOOL, earlier=9)).risk_level != RiskLevel.red, (
        "repeat reports alone do not make a low-risk case red"
    )
    assert scores == sorted(scores), "another report never lowers the score"
    assert scores[-1] - scores[0] == RULES.earlier_reports.cap
    assert "earlier_reports_3" in codes(grade(RULES, facts(**LEFT_BEHIND_OUT_OF_SCHOOL, earlier=3)))


def test_young_children_score_higher_and_an_unknown_age_is_not_assumed_safe() -> None:
    score = {age: grade(RULES, facts([Category.street], age=age)).score for age in [None, *range(18)]}
    assert score[2] > score[5] > score[9] > score[12] == score[17]
    assert all(score[a] >= score[a + 1] for a in range(17)), "never lower for a younger child"
    assert score[None] > score[12]
    assert "age_under_4" in codes(grade(RULES, facts(age=3)))
    assert "age_unknown" in codes(grade(RULES, facts(age=None)))


# ---- explainability ---------------------------------------------------------------------------


def _check_explained(graded: Grade, case: CaseFacts) -> None:
    assert level_from_factors(RULES, graded.factors) == (graded.risk_level, graded.emergency)
    assert explain(graded, RULES) == (graded.risk_level, graded.emergency)
    assert graded.score == sum(f.weight for f in graded.factors)
    assert graded.emergency == bool(case.indicators & set(RULES.forcing))
    assert graded.needs == tuple(sorted(set(graded.needs)))
    assert graded.rule_set_version == RULES.version


def test_every_small_combination_is_explained_by_its_factors_alone() -> None:
    subsets = [c for n in range(3) for c in itertools.combinations(list(Indicator), n)]
    for category, indicators, age in itertools.product(list(Category), subsets, [None, 2, 10, 15]):
        case = facts([category], indicators, age=age)
        _check_explained(grade(RULES, case), case)


def test_random_cases_are_explained_by_their_factors_and_more_evidence_never_lowers_the_grade() -> None:
    rng = random.Random(20261129)
    order = {RiskLevel.blue: 0, RiskLevel.orange: 1, RiskLevel.red: 2}
    for _ in range(2000):
        categories = rng.sample(list(Category), rng.randint(1, 3))
        indicators = rng.sample(list(Indicator), rng.randint(0, 7))
        age, earlier = rng.choice([None, *range(18)]), rng.randint(0, 6)
        case = facts(categories, indicators, age=age, earlier=earlier)
        graded = grade(RULES, case)
        _check_explained(graded, case)
        more = grade(RULES, facts(categories, [*indicators, rng.choice(list(Indicator))], age, earlier + 1))
        assert order[more.risk_level] >= order[graded.risk_level] and more.score >= graded.score


def test_the_level_can_be_audited_from_a_recorded_event_s_factors() -> None:
    graded = grade(RULES, facts(**ABUSED_AND_INJURED))
    recorded = [RiskFactor(code=f.code, weight=f.weight, explanation=f.explanation) for f in graded.factors]
    assert level_from_factors(RULES, recorded) == (RiskLevel.red, False)


# ---- validation -------------------------------------------------------------------------------


def _write(tmp_path: Path, change: Callable[[dict[str, Any]], object]) -> Path:
    document = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    change(document)
    path = tmp_path / "grading.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def _set(section: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d[section].__setitem__(key, value)


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda d: d["indicators"].pop("begging"), "indicators: no rule for begging"),
        (_set("indicators", "werewolf", {"weight": 1, "why": "no"}), "indicators.werewolf: unknown name"),
        (lambda d: d["categories"].pop("street"), "categories: no rule for street"),
        (_set("categories", "orphan", {"weight": 1, "why": "no"}), "categories.orphan: unknown name"),
        (lambda d: d["thresholds"].update(red=30, orange=60), "thresholds: red must be above orange"),
        (lambda d: d["thresholds"].update(red=30, orange=30), "thresholds: red must be above orange"),
        (_set("thresholds", "orange", 0), "thresholds.orange"),
        (_set("forcing", "ghosts", {"weight": 100, "why": "no"}), "forcing.ghosts: unknown name"),
        (lambda d: d["forcing"].pop("immediate_danger"), "forcing: must include immediate_danger"),
        (lambda d: d["forcing"]["self_harm_risk"].update(weight=10), "forcing.self_harm_risk.weight"),
        (lambda d: d["indicators"]["begging"].update(weight=-5), "indicators.begging.weight"),
        (lambda d: d["indicators"]["begging"].update(weight="15"), "indicators.begging.weight"),
        (lambda d: d["indicators"]["begging"].pop("why"), "indicators.begging.why"),
        (lambda d: d["indicators"]["begging"].update(why="x" * 201), "indicators.begging.why"),
        (lambda d: d["categories"]["abuse"].update(weight=-1), "categories.abuse.weight"),
        (lambda d: d["earlier_reports"].update(weight_each=-1), "earlier_reports.weight_each"),
        (lambda d: d["age"]["bands"].reverse(), "age.bands"),
        (lambda d: d["needs"]["categories"].update(street=[]), "needs.categories.street"),
        (lambda d: d["needs"]["indicators"].update(begging=["money"]), "needs.indicators.begging.0"),
        (lambda d: d["needs"]["indicators"].pop("begging"), "needs.indicators: no rule for begging"),
        (lambda d: d["response_hours"].pop("blue"), "response_hours: no rule for blue"),
        (lambda d: d["response_hours"].update(red=300), "response_hours: a graver level"),
        (lambda d: d.update(version=2026.11), "version"),
        (lambda d: d.update(colour="red"), "colour"),
    ],
)
def test_an_invalid_rule_set_is_refused_naming_the_file_and_the_field(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], field: str
) -> None:
    path = _write(tmp_path, change)
    with pytest.raises(RuleSetError, match=re.escape(field)) as refused:
        load_rules(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert isinstance(refused.value, ValueError)


def test_a_weight_given_twice_is_refused_rather_than_silently_replaced(tmp_path: Path) -> None:
    text = DEFAULT_RULES.read_text(encoding="utf-8")
    path = tmp_path / "grading.yaml"
    path.write_text(
        text.replace("  begging:\n", "  begging:\n    weight: 1\n  begging:\n", 1), encoding="utf-8"
    )
    with pytest.raises(RuleSetError, match="duplicate key 'begging'"):
        load_rules(path)


@pytest.mark.parametrize("text", ["", "- a list\n", "version: [unclosed\n"])
def test_a_file_that_is_not_a_rule_set_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "grading.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RuleSetError, match=re.escape(str(path))):
        load_rules(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuleSetError, match="cannot be read"):
        load_rules(tmp_path / "absent.yaml")


def test_case_facts_outside_the_contract_are_refused() -> None:
    with pytest.raises(ValueError):
        facts(indicators=["werewolf"])
    with pytest.raises(ValueError):
        facts(age=18)
    with pytest.raises(ValueError):
        facts(earlier=-1)
    assert facts(["abuse"], ["begging"]).indicators == {Indicator.begging}


# ---- response deadlines -----------------------------------------------------------------------


@pytest.mark.parametrize("level, hours", [(RiskLevel.red, 24), (RiskLevel.orange, 72), (RiskLevel.blue, 240)])
def test_the_response_deadline_follows_the_grade(level: RiskLevel, hours: int) -> None:
    graded_at = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    assert RULES.response_hours[level] == hours
    assert response_due_at(RULES, level, graded_at, jurisdiction=HERE) == graded_at + timedelta(hours=hours)


# ---- the supervisor's override ----------------------------------------------------------------


def test_a_supervisor_may_raise_or_lower_a_case_the_rules_did_not_force() -> None:
    orange = grade(RULES, facts(**LEFT_BEHIND_OUT_OF_SCHOOL))
    red = grade(RULES, facts(**ABUSED_AND_INJURED))
    assert (orange.risk_level, red.risk_level) == (RiskLevel.orange, RiskLevel.red)
    for initial, level in [
        (orange, RiskLevel.red),
        (orange, RiskLevel.blue),
        (red, RiskLevel.orange),
        (red, RiskLevel.blue),
    ]:
        override = Override(level, "home_visit_findings", "supervisor-1")
        override_is_valid(initial, override)
        assert current_level(initial.risk_level, override) == (level, True)


def test_without_an_override_the_rules_grade_stands() -> None:
    for level in RiskLevel:
        assert current_level(level, None) == (level, False)


def test_an_override_equal_to_the_rules_grade_is_refused() -> None:
    for case in (LEFT_BEHIND_OUT_OF_SCHOOL, ABUSED_AND_INJURED):
        graded = grade(RULES, facts(**case))
        with pytest.raises(ValueError, match=f"already {graded.risk_level}; an override must change"):
            override_is_valid(graded, Override(graded.risk_level, "no_change", "supervisor-1"))


@pytest.mark.parametrize(
    "indicator, level", list(itertools.product(sorted(FORCING), [RiskLevel.orange, RiskLevel.blue]))
)
def test_a_case_forced_red_cannot_be_overridden_below_red(indicator: Indicator, level: RiskLevel) -> None:
    forced = grade(RULES, facts([Category.left_behind], [indicator, Indicator.out_of_school]))
    with pytest.raises(
        ValueError, match=f"^a case forced red by {indicator} cannot be overridden below red$"
    ):
        override_is_valid(forced, Override(level, "seems_fine", "supervisor-1"))


def test_an_override_reason_is_a_reason_code_not_free_text() -> None:
    with pytest.raises(ValueError, match="reason code"):
        Override(RiskLevel.red, "The mother told me that ...", "supervisor-1")
    with pytest.raises(ValueError, match="who"):
        Override(RiskLevel.red, "home_visit_findings", "")
