"""The grading rules: forcing indicators, every category and indicator, the reference cases,
explainability from factors alone, rule-set validation and the supervisor's override."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from services.assessment.grading import (
    DEFAULT_RULES, CaseFacts, Override, RuleSetError, current_level, grade, level_from_factors, load_rules,
    override_is_valid, response_due_at,
)
from shared.contracts.vocabulary import Category, Indicator, Need, RiskLevel

RULES = load_rules()
FORCING = {Indicator.immediate_danger, Indicator.sexual_abuse_suspected, Indicator.trafficking_suspected,
           Indicator.self_harm_risk}


def facts(categories=(), indicators=(), age: int | None = 12, earlier: int = 0) -> CaseFacts:
    return CaseFacts(frozenset(categories), frozenset(indicators), age, earlier)


def test_the_default_rule_set_forces_exactly_the_four_danger_indicators() -> None:
    assert set(RULES.forcing) == FORCING


@pytest.mark.parametrize("indicator", sorted(FORCING))
def test_each_forcing_indicator_alone_makes_red_and_emergency(indicator: Indicator) -> None:
    graded = grade(RULES, facts(indicators=[indicator]))
    assert (graded.risk_level, graded.emergency) == (RiskLevel.red, True)
    assert f"forcing_{indicator}" in {f.code for f in graded.factors}


@pytest.mark.parametrize("category", list(Category))
def test_each_category_contributes_its_factor_and_needs(category: Category) -> None:
    graded = grade(RULES, facts(categories=[category]))
    assert f"category_{category}" in {f.code for f in graded.factors}
    assert set(RULES.needs.categories[category]) <= set(graded.needs)
    assert not graded.emergency, "a category alone is never an emergency"


@pytest.mark.parametrize("indicator", sorted(set(Indicator) - FORCING))
def test_each_other_indicator_adds_its_weight_and_needs(indicator: Indicator) -> None:
    without = grade(RULES, facts(categories=[Category.left_behind]))
    with_it = grade(RULES, facts(categories=[Category.left_behind], indicators=[indicator]))
    assert with_it.score == without.score + RULES.indicators[indicator].weight
    assert RULES.indicators[indicator].weight > 0
    assert set(RULES.needs.indicators.get(indicator, [])) <= set(with_it.needs)


def test_left_behind_child_out_of_school_is_orange_or_blue_with_an_education_need() -> None:
    graded = grade(RULES, facts([Category.left_behind], [Indicator.left_behind, Indicator.out_of_school], age=10))
    assert graded.risk_level in (RiskLevel.orange, RiskLevel.blue)
    assert Need.education in graded.needs and not graded.emergency


def test_injured_abused_child_is_red_without_being_an_emergency() -> None:
    graded = grade(RULES, facts([Category.abuse], [Indicator.visible_injury, Indicator.domestic_violence], age=7))
    assert (graded.risk_level, graded.emergency) == (RiskLevel.red, False)


def test_earlier_reports_raise_the_grade_up_to_the_cap() -> None:
    scores = [grade(RULES, facts([Category.left_behind], [Indicator.out_of_school], earlier=n)).score
              for n in range(6)]
    assert scores[0] < scores[1] < scores[2] < scores[3]
    assert scores[3] == scores[5], "capped"


def test_younger_children_and_unknown_ages_score_higher() -> None:
    score = {age: grade(RULES, facts([Category.street], age=age)).score for age in (2, 5, 9, 14, None)}
    assert score[2] > score[5] > score[9] > score[14]
    assert score[None] > score[14], "an unknown age is not assumed safe"


def test_every_grade_is_explained_by_its_factors_alone() -> None:
    rng = random.Random(20261129)
    for _ in range(500):
        case = facts(rng.sample(list(Category), rng.randint(1, 3)), rng.sample(list(Indicator), rng.randint(0, 4)),
                     age=rng.choice([None, *range(18)]), earlier=rng.randint(0, 5))
        graded = grade(RULES, case)
        assert level_from_factors(RULES, graded.factors) == (graded.risk_level, graded.emergency)
        assert graded.score == sum(f.weight for f in graded.factors)
        assert all(f.explanation for f in graded.factors) and graded.rule_set_version == RULES.version


def _write(tmp_path, change) -> object:
    document = yaml.safe_load(DEFAULT_RULES.read_text())
    change(document)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize("change, field", [
    (lambda d: d["indicators"].pop("begging"), "indicators"),
    (lambda d: d["indicators"].update(werewolf={"weight": 1, "why": "no"}), "indicators.werewolf"),
    (lambda d: d["categories"].pop("street"), "categories"),
    (lambda d: d["thresholds"].update(red=10, orange=50), "thresholds"),
    (lambda d: d["forcing"].update(ghosts={"weight": 1, "why": "no"}), "forcing.ghosts"),
    (lambda d: d["indicators"]["begging"].update(weight=-5), "indicators.begging.weight"),
    (lambda d: d["response_hours"].pop("blue"), "response_hours"),
])
def test_an_invalid_rule_set_is_refused_naming_the_field(tmp_path, change, field) -> None:
    with pytest.raises(RuleSetError, match=field.replace(".", r"\.")):
        load_rules(_write(tmp_path, change))


def test_response_deadlines_follow_the_grade() -> None:
    graded_at = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    due = {level: response_due_at(RULES, level, graded_at) - graded_at for level in RiskLevel}
    assert due == {RiskLevel.red: timedelta(hours=24), RiskLevel.orange: timedelta(hours=72),
                   RiskLevel.blue: timedelta(hours=240)}


# ---- the supervisor's override ---------------------------------------------------------------

def test_override_raises_or_lowers_a_grade_and_both_grades_stay_known() -> None:
    orange = grade(RULES, facts([Category.left_behind], [Indicator.left_behind, Indicator.out_of_school], age=10))
    for level in (RiskLevel.red, RiskLevel.blue):
        override = Override(level, "home_visit_contradicts_report", "supervisor-1")
        override_is_valid(orange, override)
        assert current_level(orange.risk_level, override) == (level, True)
    assert current_level(orange.risk_level, None) == (orange.risk_level, False)


def test_override_to_the_same_grade_is_refused() -> None:
    orange = grade(RULES, facts([Category.left_behind], [Indicator.left_behind, Indicator.out_of_school], age=10))
    with pytest.raises(ValueError, match="already orange"):
        override_is_valid(orange, Override(RiskLevel.orange, "no_change", "supervisor-1"))


@pytest.mark.parametrize("indicator, level", list(itertools.product(sorted(FORCING), [RiskLevel.orange, RiskLevel.blue])))
def test_an_emergency_cannot_be_overridden_below_red(indicator: Indicator, level: RiskLevel) -> None:
    forced = grade(RULES, facts(indicators=[indicator]))
    with pytest.raises(ValueError, match=f"forced red by {indicator}"):
        override_is_valid(forced, Override(level, "seems_fine", "supervisor-1"))
