"""Deadlines and cadences a territory sets for itself (DESIGN §4: "all configurable per
jurisdiction"): response hours, acknowledgement hours and visit cadence by grade, each
overridable for a node of the tree and everything under it, the narrower node winning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from services.assessment.grading import DEFAULT_RULES, RuleSetError, load_rules, response_due_at
from services.followup.schedule import DEFAULT_POLICY, PolicyError, cadence, load_policy
from services.referral.routing import DEFAULT_ROUTES, RoutingError, ack_due_at, load_routes
from shared.config import for_territory
from shared.contracts.vocabulary import RiskLevel

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
CITY, COUNTY = "1405", "140502"
IN_COUNTY, ELSEWHERE_IN_CITY, ELSEWHERE = "140502003001", "140501001001", "140402001001"


def test_the_narrower_territory_wins_and_others_keep_the_defaults() -> None:
    base = {"red": 1, "blue": 10}
    overrides = {CITY: {"blue": 20}, COUNTY: {"blue": 30}, "14": {"red": 2}}
    assert for_territory(base, overrides, IN_COUNTY) == {"red": 2, "blue": 30}
    assert for_territory(base, overrides, ELSEWHERE_IN_CITY) == {"red": 2, "blue": 20}
    assert for_territory(base, overrides, "150101001001") == base


def _with(tmp_path: Path, default: Path, **changes) -> Path:
    document = yaml.safe_load(default.read_text())
    document.update(changes)
    path = tmp_path / default.name
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_remote_county_gets_longer_response_deadlines_for_blue_cases_only(tmp_path: Path) -> None:
    rules = load_rules(_with(tmp_path, DEFAULT_RULES, response_hours_by_territory={COUNTY: {"blue": 480}}))
    hours = lambda level, where: response_due_at(rules, level, NOW, jurisdiction=where) - NOW  # noqa: E731
    assert hours(RiskLevel.blue, IN_COUNTY) == timedelta(hours=480)
    assert hours(RiskLevel.blue, ELSEWHERE_IN_CITY) == timedelta(hours=rules.response_hours[RiskLevel.blue])
    assert hours(RiskLevel.red, IN_COUNTY) == timedelta(hours=rules.response_hours[RiskLevel.red])


def test_acknowledgement_deadlines_and_visit_cadence_follow_the_territory_too(tmp_path: Path) -> None:
    routes = load_routes(_with(tmp_path, DEFAULT_ROUTES, ack_hours_by_territory={CITY: {"orange": 96}}))
    assert ack_due_at(routes, RiskLevel.orange, NOW, jurisdiction=IN_COUNTY) == NOW + timedelta(hours=96)
    assert ack_due_at(routes, RiskLevel.orange, NOW, jurisdiction=ELSEWHERE) == NOW + timedelta(
        hours=routes.ack_hours[RiskLevel.orange]
    )
    policy = load_policy(_with(tmp_path, DEFAULT_POLICY, cadence_days_by_territory={CITY: {"blue": 45}}))
    assert cadence(policy, RiskLevel.blue, jurisdiction=IN_COUNTY) == timedelta(days=45)
    assert cadence(policy, RiskLevel.blue, jurisdiction=ELSEWHERE) == timedelta(
        days=policy.cadence_days[RiskLevel.blue]
    )


@pytest.mark.parametrize(
    ("default", "loader", "error", "field", "override"),
    [
        (DEFAULT_RULES, load_rules, RuleSetError, "response_hours_by_territory", {"red": 100}),
        (DEFAULT_ROUTES, load_routes, RoutingError, "ack_hours_by_territory", {"red": 100}),
        (DEFAULT_POLICY, load_policy, PolicyError, "cadence_days_by_territory", {"red": 20}),
    ],
)
def test_no_territory_may_give_a_graver_grade_a_later_deadline(
    tmp_path: Path, default, loader, error, field, override
) -> None:
    with pytest.raises(error) as refused:
        loader(_with(tmp_path, default, **{field: {COUNTY: override}}))
    assert f"in territory {COUNTY}" in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("prefix", ["14050", "1405021", "", "14a5"])
def test_a_territory_must_be_a_node_of_the_tree(tmp_path: Path, prefix: str) -> None:
    with pytest.raises(PolicyError, match="cadence_days_by_territory"):
        load_policy(_with(tmp_path, DEFAULT_POLICY, cadence_days_by_territory={prefix: {"blue": 40}}))
