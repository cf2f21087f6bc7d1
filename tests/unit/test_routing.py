"""Referral routing: the default table, who must act on which case (the police on every
emergency and first, civil affairs on every case, each need to its agency), one destination
per agency with all its reasons, acknowledgement deadlines, and refusal of invalid tables."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.referral.routing import (
    DEFAULT_ROUTES,
    GradedCase,
    RoutingError,
    RoutingTable,
    ack_due_at,
    destinations,
    load_routes,
)
from shared.contracts.vocabulary import Agency, Category, Need, RiskLevel

TABLE = load_routes()
SINCE = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
HERE = "140402001001"  # a village with no territory settings of its own


def case(
    level: RiskLevel = RiskLevel.blue,
    *,
    emergency: bool = False,
    categories: tuple[Category, ...] = (),
    needs: tuple[Need, ...] = (),
) -> GradedCase:
    return GradedCase(
        risk_level=level, emergency=emergency, categories=frozenset(categories), needs=frozenset(needs)
    )


def agencies(c: GradedCase) -> list[Agency]:
    return [d.agency for d in destinations(TABLE, c)]


def reasons_for(c: GradedCase, agency: Agency) -> tuple[str, ...]:
    (dest,) = [d for d in destinations(TABLE, c) if d.agency == agency]
    return dest.reasons


def why_of(agency: Agency, **when: Any) -> str:
    """The `why` of the default table's route with exactly this condition and agency."""
    matches = [
        r.why
        for r in TABLE.routes
        if agency in r.agencies and r.when.model_dump(exclude_defaults=True) == when
    ]
    assert len(matches) == 1, (agency, when, matches)
    return matches[0]


# --- the default file -------------------------------------------------------------------


def test_default_file_loads_as_a_versioned_table() -> None:
    assert DEFAULT_ROUTES.is_file()
    assert isinstance(TABLE, RoutingTable)
    assert TABLE.version == "2026.11-1"
    assert len(TABLE.routes) >= 1
    assert all(r.why.strip() for r in TABLE.routes)


def test_load_routes_with_an_explicit_path_reads_that_file(tmp_path: Path) -> None:
    doc = yaml.safe_load(DEFAULT_ROUTES.read_text(encoding="utf-8"))
    doc["version"] = "local-7"
    path = tmp_path / "routes.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert load_routes(path).version == "local-7"


# --- emergencies go to the police, first ---------------------------------------------------


@pytest.mark.parametrize("category", list(Category))
@pytest.mark.parametrize("level", list(RiskLevel))
def test_an_emergency_of_any_category_goes_to_the_police_first(category: Category, level: RiskLevel) -> None:
    got = agencies(case(level, emergency=True, categories=(category,)))
    assert got[0] == Agency.police
    assert got.count(Agency.police) == 1


def test_an_emergency_with_no_category_or_need_still_goes_to_the_police() -> None:
    got = agencies(case(RiskLevel.blue, emergency=True))
    assert got[0] == Agency.police
    assert why_of(Agency.police, emergency=True) in reasons_for(
        case(RiskLevel.blue, emergency=True), Agency.police
    )


def test_a_non_emergency_case_with_nothing_criminal_does_not_involve_the_police() -> None:
    got = agencies(case(RiskLevel.orange, categories=(Category.left_behind,), needs=(Need.education,)))
    assert Agency.police not in got


@pytest.mark.parametrize("category", [Category.abuse, Category.trafficked, Category.street])
def test_the_police_come_first_even_when_routed_by_category(category: Category) -> None:
    # Agency order in the vocabulary would put others first only if the sort were wrong.
    got = agencies(case(RiskLevel.blue, categories=(category,), needs=tuple(Need)))
    assert got[0] == Agency.police


# --- civil affairs leads every case --------------------------------------------------------


@pytest.mark.parametrize("emergency", [False, True])
@pytest.mark.parametrize("level", list(RiskLevel))
def test_civil_affairs_is_on_every_case_whatever_the_grade(level: RiskLevel, emergency: bool) -> None:
    assert Agency.civil_affairs in agencies(case(level, emergency=emergency))


def test_every_combination_keeps_the_core_guarantees() -> None:
    """Exhaustive over grade × emergency × every set of categories × every set of needs:
    civil affairs always, each agency once, police first whenever present, always on an
    emergency, and every destination explained."""

    def subsets(items: list[Any]) -> list[tuple[Any, ...]]:
        return [c for n in range(len(items) + 1) for c in itertools.combinations(items, n)]

    for level, emergency, cats, needs in itertools.product(
        RiskLevel, (False, True), subsets(list(Category)), subsets(list(Need))
    ):
        dests = destinations(TABLE, case(level, emergency=emergency, categories=cats, needs=needs))
        got = [d.agency for d in dests]
        assert Agency.civil_affairs in got
        assert len(got) == len(set(got))
        assert all(d.reasons for d in dests)
        if emergency:
            assert got[0] == Agency.police
        if Agency.police in got:
            assert got[0] == Agency.police


# --- categories and needs reach their agencies ----------------------------------------------


def test_an_abuse_case_goes_to_police_and_the_womens_federation() -> None:
    got = agencies(case(RiskLevel.orange, categories=(Category.abuse,)))
    assert {Agency.police, Agency.womens_federation, Agency.civil_affairs} <= set(got)


@pytest.mark.parametrize(
    ("need", "agency"),
    [
        (Need.education, Agency.education),
        (Need.legal, Agency.legal_aid),
        (Need.psychological, Agency.social_work),
        (Need.guardianship, Agency.court),
        (Need.policy, Agency.health),
    ],
)
def test_a_need_goes_to_its_agency(need: Need, agency: Agency) -> None:
    got = agencies(case(RiskLevel.blue, needs=(need,)))
    assert agency in got
    # A need alone is not a reason to call the police.
    assert Agency.police not in got


def test_an_education_need_alone_goes_to_education_and_the_lead_only() -> None:
    assert set(agencies(case(RiskLevel.blue, needs=(Need.education,)))) == {
        Agency.civil_affairs,
        Agency.education,
    }


def test_a_left_behind_child_goes_to_the_youth_league() -> None:
    got = agencies(case(RiskLevel.blue, categories=(Category.left_behind,)))
    assert Agency.youth_league in got


def test_a_trafficked_child_goes_to_police_and_procuratorate() -> None:
    got = agencies(case(RiskLevel.red, categories=(Category.trafficked,)))
    assert {Agency.police, Agency.procuratorate} <= set(got)


def test_a_child_without_a_guardian_goes_to_the_court() -> None:
    assert Agency.court in agencies(case(RiskLevel.orange, categories=(Category.no_guardian,)))


def test_ill_or_disabled_child_goes_to_health() -> None:
    assert Agency.health in agencies(case(RiskLevel.blue, categories=(Category.illness_disability,)))


def test_unrelated_agencies_are_not_called() -> None:
    got = set(agencies(case(RiskLevel.blue, categories=(Category.left_behind,))))
    assert got == {Agency.civil_affairs, Agency.youth_league}


# --- one destination per agency, with every reason -----------------------------------------


def test_a_destination_appears_once_with_every_reason_that_chose_it() -> None:
    c = case(RiskLevel.red, emergency=True, categories=(Category.abuse, Category.trafficked, Category.street))
    dests = destinations(TABLE, c)
    got = [d.agency for d in dests]
    assert got.count(Agency.police) == 1
    assert set(reasons_for(c, Agency.police)) == {
        why_of(Agency.police, emergency=True),
        why_of(Agency.police, categories=["abuse"]),
        why_of(Agency.police, categories=["trafficked"]),
        why_of(Agency.police, categories=["street"]),
    }
    assert len(reasons_for(c, Agency.police)) == 4
    # Civil affairs: the lead rule and the street-children rule.
    assert got.count(Agency.civil_affairs) == 1
    assert set(reasons_for(c, Agency.civil_affairs)) == {
        why_of(Agency.civil_affairs, risk_levels=["red", "orange", "blue"]),
        why_of(Agency.civil_affairs, categories=["street"]),
    }


def test_a_route_matching_on_two_grounds_gives_its_reason_once() -> None:
    # The guardianship route matches on the category AND the need: still one reason.
    c = case(RiskLevel.orange, categories=(Category.no_guardian,), needs=(Need.guardianship,))
    assert reasons_for(c, Agency.court) == (
        why_of(Agency.court, categories=["no_guardian"], needs=["guardianship"]),
    )


def test_every_agency_in_the_default_table_is_reachable_by_some_case() -> None:
    in_table = {a for r in TABLE.routes for a in r.agencies}
    reached: set[Agency] = set()
    for level, emergency, category, need in itertools.product(
        RiskLevel, (False, True), [None, *Category], [None, *Need]
    ):
        reached |= set(
            agencies(
                case(
                    level,
                    emergency=emergency,
                    categories=(category,) if category else (),
                    needs=(need,) if need else (),
                )
            )
        )
    assert in_table <= reached
    # And the default table leaves no agency of the vocabulary without work.
    assert reached == set(Agency)


# --- acknowledgement deadlines ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "hours"), [(RiskLevel.red, 24), (RiskLevel.orange, 72), (RiskLevel.blue, 240)]
)
def test_ack_deadline_by_grade(level: RiskLevel, hours: int) -> None:
    assert ack_due_at(TABLE, level, SINCE, jurisdiction=HERE) == SINCE + timedelta(hours=hours)


def test_a_higher_grade_never_has_a_later_ack_deadline() -> None:
    red, orange, blue = (
        ack_due_at(TABLE, lv, SINCE, jurisdiction=HERE)
        for lv in (RiskLevel.red, RiskLevel.orange, RiskLevel.blue)
    )
    assert SINCE < red < orange < blue


# --- invalid tables are refused, naming the field --------------------------------------------


def _default_doc() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_ROUTES.read_text(encoding="utf-8"))


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "referral.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _refused(tmp_path: Path, doc: dict[str, Any]) -> str:
    path = _write(tmp_path, doc)
    with pytest.raises(RoutingError) as info:
        load_routes(path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    return message


def test_an_unmodified_copy_of_the_default_is_accepted(tmp_path: Path) -> None:
    assert load_routes(_write(tmp_path, _default_doc())) == TABLE


def test_unknown_agency_is_refused(tmp_path: Path) -> None:
    doc = copy.deepcopy(_default_doc())
    doc["routes"][6]["agencies"] = ["fire_brigade"]
    message = _refused(tmp_path, doc)
    assert "routes.6.agencies" in message


def test_unknown_category_is_refused(tmp_path: Path) -> None:
    doc = copy.deepcopy(_default_doc())
    doc["routes"][2]["when"] = {"categories": ["runaway"]}
    message = _refused(tmp_path, doc)
    assert "routes.2.when.categories" in message


def test_unknown_need_is_refused(tmp_path: Path) -> None:
    doc = copy.deepcopy(_default_doc())
    doc["routes"][7]["when"] = {"needs": ["housing"]}
    assert "routes.7.when.needs" in _refused(tmp_path, doc)


@pytest.mark.parametrize("when", [{}, {"categories": []}, {"needs": [], "risk_levels": []}])
def test_a_route_with_an_empty_when_is_refused(tmp_path: Path, when: dict[str, Any]) -> None:
    doc = copy.deepcopy(_default_doc())
    doc["routes"][3]["when"] = when
    message = _refused(tmp_path, doc)
    assert "routes.3.when" in message


def test_a_route_with_no_agencies_is_refused(tmp_path: Path) -> None:
    doc = copy.deepcopy(_default_doc())
    doc["routes"][4]["agencies"] = []
    assert "routes.4.agencies" in _refused(tmp_path, doc)


def test_a_route_without_a_reason_is_refused(tmp_path: Path) -> None:
    doc = copy.deepcopy(_default_doc())
    doc["routes"][5]["why"] = ""
    assert "routes.5.why" in _refused(tmp_path, doc)


@pytest.mark.parametrize("level", list(RiskLevel))
def test_missing_ack_hours_for_a_level_is_refused(tmp_path: Path, level: RiskLevel) -> None:
    doc = copy.deepcopy(_default_doc())
    del doc["ack_hours"][level.value]
    message = _refused(tmp_path, doc)
    assert "ack_hours" in message
    assert level.value in message


def test_zero_ack_hours_is_refused(tmp_path: Path) -> None:
    doc = copy.deepcopy(_default_doc())
    doc["ack_hours"]["red"] = 0
    assert "ack_hours.red" in _refused(tmp_path, doc)


def test_an_unknown_grade_in_ack_hours_is_refused(tmp_path: Path) -> None:
    doc = copy.deepcopy(_default_doc())
    doc["ack_hours"]["purple"] = 12
    assert "ack_hours" in _refused(tmp_path, doc)


def test_a_table_with_no_emergency_route_is_refused(tmp_path: Path) -> None:
    doc = copy.deepcopy(_default_doc())
    doc["routes"] = [r for r in doc["routes"] if "emergency" not in r["when"]]
    message = _refused(tmp_path, doc)
    assert "routes" in message
    assert "police" in message


def test_an_emergency_route_that_skips_the_police_is_refused(tmp_path: Path) -> None:
    doc = copy.deepcopy(_default_doc())
    doc["routes"][0]["agencies"] = ["civil_affairs"]
    # Other routes still send abuse, trafficking and street cases to the police: not enough.
    message = _refused(tmp_path, doc)
    assert "routes" in message
    assert "police" in message


def test_an_unknown_field_is_refused(tmp_path: Path) -> None:
    doc = copy.deepcopy(_default_doc())
    doc["routes"][0]["priority"] = 1
    assert "routes.0.priority" in _refused(tmp_path, doc)


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(RoutingError, match="nowhere.yaml"):
        load_routes(path)
