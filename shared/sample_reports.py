"""Realistic (fictitious) hotline reports for the benchmarks and the console's demonstration county:
varied categories and indicators, villages all over the territory registry, some repeat reports of a
known child, some immediate danger. Built from the contracts and the territory registry alone, so
both the benchmarks and a service (the demonstration seeder) can use it."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from shared.contracts.vocabulary import Category, Channel, Indicator
from shared.territory.code import TerritoryLevel
from shared.territory.registry import TerritoryRegistry

# What a hotline hears, most often first: left-behind children dominate the caseload, trafficking is rare.
CATEGORY_WEIGHTS = {
    Category.left_behind: 40,
    Category.abuse: 20,
    Category.no_guardian: 15,
    Category.illness_disability: 15,
    Category.street: 8,
    Category.trafficked: 2,
}
# The indicators a caller typically describes for each category.
INDICATORS_OF = {
    Category.left_behind: (
        Indicator.left_behind,
        Indicator.out_of_school,
        Indicator.psychological_distress,
        Indicator.guardian_seriously_ill,
    ),
    Category.abuse: (Indicator.visible_injury, Indicator.domestic_violence, Indicator.psychological_distress),
    Category.no_guardian: (
        Indicator.no_caregiver,
        Indicator.guardian_incarcerated,
        Indicator.guardian_drug_use,
        Indicator.abandoned,
    ),
    Category.illness_disability: (Indicator.serious_illness, Indicator.disability),
    Category.street: (Indicator.begging, Indicator.out_of_school, Indicator.illegal_employment),
    Category.trafficked: (Indicator.trafficking_suspected,),
}
# Indicators that force red on their own, besides immediate danger; rare on purpose.
RARE_GRAVE = (Indicator.sexual_abuse_suspected, Indicator.self_harm_risk)
CALLERS = (
    Channel.neighbour,
    Channel.relative,
    Channel.school,
    Channel.village_committee,
    Channel.self,
    Channel.hospital,
    Channel.community,
    Channel.volunteer,
    Channel.police,
)
SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红娥玲芬燕彬鑫浩宇轩睿欣怡梓涵子豪俊"
STREETS = ("东街", "西街", "南关", "北关", "前进路", "解放路", "英雄路", "太行路", "长兴路")
NARRATIVE = (
    "来电人反映：该儿童近期情况令人担忧，{detail}。来电人希望有关部门尽快上门核实，"
    "了解监护情况、就学情况和身体状况，并提供必要的帮助。"
)
DETAILS = (
    "父母长期在外务工，由年迈的祖父母照看",
    "多次看到孩子身上有伤痕",
    "孩子经常一个人在村口徘徊到深夜",
    "家中无人照料，孩子自己做饭",
    "孩子已经一个多月没有去学校",
    "孩子说家里有人打他",
    "监护人患重病卧床",
    "孩子在街头乞讨",
    "孩子情绪低落，不愿与人说话",
)
# Check digit of the 18-digit resident identity number (GB 11643, ISO 7064 MOD 11-2).
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class SampleReport:
    """One report as the hotline publishes it, and what its maker knows about it."""

    external_id: str
    body: dict
    repeat: bool  # about a child an earlier report of this run already named
    immediate_danger: bool

    def message(self) -> tuple[bytes, bytes]:
        """The Kafka key and value the hotline publishes."""
        return self.external_id.encode(), json.dumps(self.body, ensure_ascii=False).encode()


def villages(registry: TerritoryRegistry) -> list[str]:
    """Every village of the registry: where reports come from."""
    return [node.code for node in registry.nodes if node.level is TerritoryLevel.village]


def national_id(region: str, birth: date, sex: str, rng: random.Random) -> str:
    serial = rng.randrange(0, 500) * 2 + (1 if sex == "M" else 0)  # odd for a boy, even for a girl
    body = f"{region[:6]}{birth:%Y%m%d}{serial:03d}"
    return body + _ID_CHECK[sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=False)) % 11]


def _child(region: str, now: datetime, rng: random.Random) -> dict:
    sex = rng.choice("FM")
    birth = (now - timedelta(days=rng.randrange(200, 17 * 365))).date()
    name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
    address = f"{rng.choice(STREETS)}{rng.randrange(1, 300)}号"
    child = {
        "name": name,
        "national_id": None,
        "sex": sex,
        "birth_date": birth.isoformat(),
        "age_estimate": None,
        "address": address,
        "school": None,
    }
    identified_by = rng.random()
    if identified_by < 0.80:  # most callers know the child well enough to give the id number
        child["national_id"] = national_id(region, birth, sex, rng)
    elif identified_by > 0.95:  # a stranger guesses the age
        child.update(birth_date=None, age_estimate=min(17, (now.date() - birth).days // 365))
    if child["age_estimate"] is None and (now.date() - birth).days > 6 * 365:
        child["school"] = f"{rng.choice(STREETS)}小学"
    return child


def concerns(rng: random.Random, immediate_danger: bool) -> tuple[list[str], list[str]]:
    """The categories a caller (or a surveyor) names, and the indicators typical of each."""
    categories = set(
        rng.choices(
            list(CATEGORY_WEIGHTS), weights=list(CATEGORY_WEIGHTS.values()), k=rng.choice((1, 1, 1, 2))
        )
    )
    indicators: set[Indicator] = set()
    for category in categories:
        known = INDICATORS_OF[category]
        indicators.update(rng.sample(known, k=rng.randint(min(1, len(known)), min(2, len(known)))))
    if immediate_danger:
        indicators.add(Indicator.immediate_danger)
    if rng.random() < 0.02:
        indicators.add(rng.choice(RARE_GRAVE))
    return sorted(c.value for c in categories), sorted(i.value for i in indicators)


def realistic_reports(
    count: int,
    *,
    places: list[str],
    run: str,
    rng: random.Random,
    repeat_share: float = 0.10,
    danger_share: float = 0.10,
) -> list[SampleReport]:
    """`count` reports with external ids `BENCH-<run>-<n>`; a repeat names a child of an earlier report
    (same identity and village), as a second caller about the same child would. `rng` shapes the run
    (villages, concerns, repeats); the children's identities come from the run's own tag, so that a
    second run with the same seed reports new children rather than earlier runs' ones."""
    now = datetime.now(UTC)
    identities = random.Random(run)
    known: list[tuple[str, dict]] = []
    reports = []
    for n in range(count):
        repeat = bool(known) and rng.random() < repeat_share
        jurisdiction, child = rng.choice(known) if repeat else (rng.choice(places), None)
        if child is None:
            child = _child(jurisdiction, now, identities)
            known.append((jurisdiction, child))
        danger = rng.random() < danger_share
        categories, indicators = concerns(rng, danger)
        anonymous = rng.random() < 0.3
        reporter = {
            "role": rng.choice(CALLERS).value,
            "anonymous": anonymous,
            "name": None if anonymous else rng.choice(SURNAMES) + rng.choice(GIVEN),
            "phone": None if anonymous else f"+86 139 {rng.randrange(10**8):08d}",
        }
        external_id = f"BENCH-{run}-{n}"
        body = {
            "schema_version": 1,
            "external_id": external_id,
            "channel": Channel.hotline.value,
            "received_at": now.isoformat().replace("+00:00", "Z"),
            "reporter": reporter,
            "child": dict(child),
            "jurisdiction": jurisdiction,
            "categories": categories,
            "indicators": indicators,
            "narrative": NARRATIVE.format(detail=rng.choice(DETAILS)),
        }
        reports.append(SampleReport(external_id, body, repeat=repeat, immediate_danger=danger))
    return reports
