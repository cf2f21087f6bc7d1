"""Escalation up the four-level network, on 12-digit administrative codes: a village's miss
goes to its township, a township's to its county, a county's to its city, and a city's to no
one in the network."""

from __future__ import annotations

import pytest

from services.referral.territory import escalation_target, holder_after_move
from shared.contracts.vocabulary import TerritoryLevel as L
from shared.contracts.vocabulary import is_within, territory_level
from shared.territory.code import node_at

# Real-looking codes (province 2, city 2, county 2, township 3, village 3).
VILLAGES = [
    "620102001001",  # Gansu / Lanzhou / Chengguan district / a street / a community
    "445302103201",  # Guangdong / Yunfu / Yuncheng district / a town / a village
    "520521101210",  # Guizhou / Bijie / Dafang county / a town / a village
    "469001100200",  # Hainan / province-administered / Wuzhishan / a town / a village
    "110105010001",  # Beijing / municipal districts / Chaoyang / a street / a community
]
ORDER = [L.province, L.city, L.county, L.township, L.village]


def _chain(village: str) -> list[tuple[str, L]]:
    """The village and its ancestors up to the city, by slicing the code by hand."""
    return [
        (village, L.village),
        (village[:9] + "000", L.township),
        (village[:6] + "000000", L.county),
        (village[:4] + "00000000", L.city),
    ]


def test_village_escalates_to_its_township() -> None:
    assert escalation_target("620102001001") == ("620102001000", L.township)


def test_township_escalates_to_its_county() -> None:
    assert escalation_target("620102001000") == ("620102000000", L.county)


def test_county_escalates_to_its_city() -> None:
    assert escalation_target("620102000000") == ("620100000000", L.city)


def test_a_city_node_is_the_top_of_the_network() -> None:
    assert escalation_target("620100000000") is None


def test_a_province_node_has_nowhere_to_go_either() -> None:
    assert escalation_target("620000000000") is None


@pytest.mark.parametrize("village", VILLAGES)
def test_escalation_climbs_one_level_at_a_time_to_the_city(village: str) -> None:
    chain = _chain(village)
    for (node, level), (parent, parent_level) in zip(chain, chain[1:], strict=False):
        assert territory_level(node) == level
        assert escalation_target(node) == (parent, parent_level)
    assert escalation_target(chain[-1][0]) is None


@pytest.mark.parametrize("village", VILLAGES)
def test_the_target_is_always_an_ancestor_one_level_up(village: str) -> None:
    node = village
    steps = 0
    while (target := escalation_target(node)) is not None:
        code, level = target
        assert len(code) == 12 and code.isdigit()
        assert code != node
        assert is_within(node, code)  # the target contains the node
        assert not is_within(code, node)  # and is strictly above it
        assert territory_level(code) == level
        assert ORDER.index(level) == ORDER.index(territory_level(node)) - 1
        node = code
        steps += 1
    assert steps == 3
    assert territory_level(node) == L.city


@pytest.mark.parametrize("village", VILLAGES)
def test_a_neighbouring_village_is_not_the_target(village: str) -> None:
    # Escalation never lands in a different subtree of the same county.
    code, _ = escalation_target(village)
    other_township = village[:6] + "999000"
    assert not is_within(other_township, code)


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (L.province, "620000000000"),
        (L.city, "620100000000"),
        (L.county, "620102000000"),
        (L.township, "620102001000"),
        (L.village, "620102001001"),
    ],
)
def test_node_at_each_level(level: L, expected: str) -> None:
    node = node_at("620102001001", level)
    assert node == expected
    assert territory_level(node) == level
    assert is_within("620102001001", node)


@pytest.mark.parametrize("village", VILLAGES)
@pytest.mark.parametrize("level", ORDER)
def test_node_at_keeps_the_code_and_names_that_level(village: str, level: L) -> None:
    node = node_at(village, level)
    assert len(node) == 12 and node.isdigit()
    assert territory_level(node) == level
    assert is_within(village, node)


def test_node_at_from_a_higher_node_stays_put_at_its_own_level() -> None:
    assert node_at("445302000000", L.county) == "445302000000"
    assert node_at("445302000000", L.city) == "445300000000"


def test_an_open_referral_of_a_moved_case_is_held_at_the_same_level_of_the_new_territory() -> None:
    moved_to = "620103002004"
    assert holder_after_move("620102001001", moved_to) == moved_to  # not escalated: the case's new node
    assert holder_after_move("620102001000", moved_to) == "620103002000"  # at township: the new township
    assert holder_after_move("620102000000", moved_to) == "620103000000"  # at county: the new county
    assert holder_after_move("620102001001", "620103002000") == "620103002000"  # moved to a township node
