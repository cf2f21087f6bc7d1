"""The territory registry (config/territory.yaml): Changzhi's network of districts, counties,
townships and villages with their names, checked at start-up so that a broken file stops the
service with one line naming the file and the node; and the territory code it is built on."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from services.intake.reports import ReportRejected, check_jurisdiction
from shared.contracts.hotline import HotlineReport
from shared.settings import Settings
from shared.territory.code import PREFIX_PATTERN, TerritoryCode, TerritoryLevel
from shared.territory.registry import DEFAULT_REGISTRY, TerritoryError, TerritoryRegistry, load_territory
from tests.e2e.reports import hotline_report

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = load_territory()

# The city's districts and counties since the 2018 reform, and the old Chengqu district that
# earlier records and the examples still name.
COUNTIES = {
    "140402000000": ("城区", "Chengqu District"),
    "140403000000": ("潞州区", "Luzhou District"),
    "140404000000": ("上党区", "Shangdang District"),
    "140405000000": ("屯留区", "Tunliu District"),
    "140406000000": ("潞城区", "Lucheng District"),
    "140423000000": ("襄垣县", "Xiangyuan County"),
    "140425000000": ("平顺县", "Pingshun County"),
    "140426000000": ("黎城县", "Licheng County"),
    "140427000000": ("壶关县", "Huguan County"),
    "140428000000": ("长子县", "Zhangzi County"),
    "140429000000": ("武乡县", "Wuxiang County"),
    "140430000000": ("沁县", "Qin County"),
    "140431000000": ("沁源县", "Qinyuan County"),
}


# ---- the shipped registry --------------------------------------------------------------------


def test_the_registry_is_changzhi_with_every_district_and_county_in_both_languages() -> None:
    city = REGISTRY.city
    assert (city.code, city.zh_cn, city.en) == ("140400000000", "长治市", "Changzhi")
    assert city.level is TerritoryLevel.city
    counties = {node.code: (node.name("zh-CN"), node.name("en")) for node in REGISTRY.children(city.code)}
    assert counties == COUNTIES


def test_several_counties_have_townships_and_villages() -> None:
    villages = [n for n in REGISTRY.nodes if n.level is TerritoryLevel.village]
    assert len({n.territory.at(TerritoryLevel.county) for n in villages}) >= 8
    assert len({n.territory.parent for n in villages}) >= 15, "villages in many townships"
    assert all(re.fullmatch(r"[\u4e00-\u9fff]+", n.zh_cn) and n.en.isascii() for n in REGISTRY.nodes)


def test_the_settings_choose_the_file_and_default_to_the_shipped_one(monkeypatch, tmp_path: Path) -> None:
    assert Settings().territory_file is None and DEFAULT_REGISTRY == ROOT / "config" / "territory.yaml"
    own = tmp_path / "territory.yaml"
    own.write_text(
        yaml.safe_dump(
            {"version": "mine", "nodes": [{"code": "140500000000", "zh-CN": "晋城市", "en": "Jincheng"}]},
            allow_unicode=True,
        )
    )
    monkeypatch.setenv("CPNET_TERRITORY_FILE", str(own))
    assert load_territory(Settings().territory_file).city.en == "Jincheng"


# ---- lookups ---------------------------------------------------------------------------------


def test_a_village_names_its_chain_up_to_the_city_in_both_languages() -> None:
    chain = REGISTRY.chain("140425200201")
    assert [(n.code, n.level) for n in chain] == [
        ("140425200201", TerritoryLevel.village),
        ("140425200000", TerritoryLevel.township),
        ("140425000000", TerritoryLevel.county),
        ("140400000000", TerritoryLevel.city),
    ]
    assert [n.name("zh-CN") for n in chain] == ["西沟村", "西沟乡", "平顺县", "长治市"]
    assert [n.name("en") for n in chain] == ["Xigou Village", "Xigou Township", "Pingshun County", "Changzhi"]


def test_membership_children_and_unknown_codes() -> None:
    assert "140402001001" in REGISTRY and "140400000000" in REGISTRY
    assert "140402001099" not in REGISTRY and "140000000000" not in REGISTRY and "1404" not in REGISTRY
    dongjie = [n.code for n in REGISTRY.children("140402001000")]
    assert dongjie == ["140402001001", "140402001002", "140402001003"]
    assert REGISTRY.children("140402001001") == ()
    with pytest.raises(KeyError):
        REGISTRY.node("140402001099")
    with pytest.raises(KeyError):
        REGISTRY.chain("140402001099")


def test_the_same_name_under_different_parents_is_two_nodes() -> None:
    same = [n for n in REGISTRY.nodes if n.zh_cn == "东关村"]
    assert len(same) == 2 and same[0].territory.parent != same[1].territory.parent


# ---- every jurisdiction the examples and the tests' report builders use exists -----------------


def _used_jurisdictions() -> set[str]:
    examples = (ROOT / "docs" / "examples").glob("*.json")
    codes = {json.loads(path.read_text())["jurisdiction"] for path in examples}
    codes.add(hotline_report()["jurisdiction"])
    written = re.compile(r"""jurisdiction["']?\s*[:=]\s*["']([0-9]{12})["']""")
    for folder in ("tests/e2e", "tests/integration", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            codes |= set(written.findall(path.read_text(encoding="utf-8")))
    return codes


def test_every_jurisdiction_of_the_examples_and_report_builders_is_in_the_registry() -> None:
    used = _used_jurisdictions()
    assert {"140402001001", "140402001002"} <= used, "the scan finds the codes the tests report from"
    assert sorted(code for code in used if code not in REGISTRY) == []


# ---- intake refuses a report about a node that does not exist ---------------------------------


def test_intake_refuses_an_unknown_jurisdiction_naming_the_field_not_the_value() -> None:
    check_jurisdiction(HotlineReport.model_validate_json(json.dumps(hotline_report())), REGISTRY)
    unknown = HotlineReport.model_validate_json(json.dumps(hotline_report(jurisdiction="140402001099")))
    with pytest.raises(ReportRejected) as refused:
        check_jurisdiction(unknown, REGISTRY)
    assert str(refused.value) == "jurisdiction: not a node of the territory registry"


# ---- every validation rule, each with a broken copy --------------------------------------------


def _broken(tmp_path: Path, change) -> Path:
    document = yaml.safe_load(DEFAULT_REGISTRY.read_text(encoding="utf-8"))
    change(document)
    path = tmp_path / "territory.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def _refusal(path: Path) -> str:
    with pytest.raises(TerritoryError) as refused:
        load_territory(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ") and "\n" not in message, "one line naming the file"
    return message


def _node(**fields) -> dict:
    return {"zh-CN": "新村", "en": "Xincun Village", **fields}


def _without(code: str):
    return lambda d: d.update(nodes=[n for n in d["nodes"] if n["code"] != code])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["nodes"].append(_node(code="140425200201", en="Xigou Again")),
            "node 140425200201 (新村): the code is listed twice",
        ),
        (
            _without("140425200000"),
            "node 140425200201 (西沟村): its parent 140425200000 is not in the registry",
        ),
        (_without("140400000000"), "the registry has 0 city nodes"),
        (
            lambda d: d["nodes"].append(_node(code="140500000000", **{"zh-CN": "晋城市", "en": "Jincheng"})),
            "the registry has 2 city nodes",
        ),
        (
            lambda d: d["nodes"].append(_node(code="140000000000", **{"zh-CN": "山西省", "en": "Shanxi"})),
            "node 140000000000 (山西省): a province is above the city",
        ),
        (lambda d: d["nodes"].append(_node(code="140400001000")), "140400001000 skips a level"),
        (lambda d: d["nodes"].append(_node(code="000000000000")), "000000000000 skips a level"),
        (lambda d: d["nodes"].append(_node(code="14042520020")), "a territory code has 12 digits"),
        (lambda d: d["nodes"].append(_node(code=140425200203)), "write the code as a quoted string"),
        (
            lambda d: d["nodes"].append(_node(code="140425200203", **{"zh-CN": "西沟村"})),
            "node 140425200203 (西沟村): its zh-CN name is also that of 140425200201, under the same parent "
            "140425200000 (西沟乡)",
        ),
        (
            lambda d: d["nodes"].append(_node(code="140425200203", en="xigou village")),
            "its en name is also that of 140425200201",
        ),
        (lambda d: d["nodes"].append({"code": "140425200203", "zh-CN": "新村"}), "en: Field required"),
        (
            lambda d: d["nodes"].append(_node(code="140425200203", en="  ")),
            "en: String should have at least 1",
        ),
        (lambda d: d["nodes"].append(_node(code="140425200203", level="village")), "Extra inputs are not"),
        (lambda d: d.pop("version"), "version: Field required"),
        (lambda d: d.update(nodes=[]), "nodes: List should have at least 1 item"),
    ],
)
def test_a_broken_registry_is_refused_in_one_line_naming_the_node(
    tmp_path: Path, change, expected: str
) -> None:
    assert expected in _refusal(_broken(tmp_path, change))


def test_a_field_error_names_the_node_by_its_place_in_the_file(tmp_path: Path) -> None:
    message = _refusal(_broken(tmp_path, lambda d: d["nodes"].insert(3, _node(code="1404"))))
    assert "nodes.3.code: " in message


def test_a_code_given_twice_as_a_yaml_key_or_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    twice = tmp_path / "twice.yaml"
    twice.write_text('version: "1"\nversion: "2"\nnodes: []\n')
    assert "duplicate key 'version'" in _refusal(twice)
    assert "cannot be read" in _refusal(tmp_path / "missing.yaml")


def test_the_registry_model_alone_checks_the_same_rules() -> None:
    with pytest.raises(ValueError, match="its parent 140402001000 is not in the registry"):
        TerritoryRegistry.model_validate(
            {
                "version": "1",
                "nodes": [
                    {"code": "140400000000", "zh-CN": "长治市", "en": "Changzhi"},
                    {"code": "140402001001", "zh-CN": "府后社区", "en": "Fuhou Community"},
                ],
            }
        )


# ---- the territory code ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "level", "prefix", "parent"),
    [
        ("140000000000", TerritoryLevel.province, "14", None),
        ("140400000000", TerritoryLevel.city, "1404", "140000000000"),
        ("140402000000", TerritoryLevel.county, "140402", "140400000000"),
        ("140402001000", TerritoryLevel.township, "140402001", "140402000000"),
        ("140402001001", TerritoryLevel.village, "140402001001", "140402001000"),
    ],
)
def test_a_code_knows_its_level_prefix_and_parent(
    code: str, level: TerritoryLevel, prefix: str, parent: str | None
) -> None:
    node = TerritoryCode(code)
    assert (node.level, node.prefix) == (level, prefix)
    assert (node.parent.code if node.parent else None) == parent
    assert re.fullmatch(PREFIX_PATTERN, node.prefix)
    assert not node.skips_a_level


def test_ancestors_and_subtrees() -> None:
    village = TerritoryCode("140425200201")
    assert village.at(TerritoryLevel.county) == TerritoryCode("140425000000")
    assert village.at(TerritoryLevel.village) == village
    assert TerritoryCode("140425000000").at(TerritoryLevel.village) == TerritoryCode("140425000000")
    assert TerritoryCode("140425000000").contains(village) and village.contains(village)
    assert not village.contains(TerritoryCode("140425000000"))
    assert not TerritoryCode("140425200000").contains(TerritoryCode("140425201201"))


@pytest.mark.parametrize("code", ["1404", "1404000000000", "14040000000a", "", " 14040000000"])
def test_a_code_has_exactly_twelve_digits(code: str) -> None:
    with pytest.raises(ValueError, match="12 digits"):
        TerritoryCode(code)


@pytest.mark.parametrize("code", ["140400001000", "140002000000", "000400000000", "140402000001"])
def test_a_code_with_a_zero_segment_above_its_own_skips_a_level(code: str) -> None:
    assert TerritoryCode(code).skips_a_level


def test_a_prefix_has_one_of_the_five_lengths() -> None:
    assert [n for n in range(1, 14) if re.fullmatch(PREFIX_PATTERN, "1" * n)] == [2, 4, 6, 9, 12]
