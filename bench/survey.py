"""A realistic (fictitious) screening survey for the benchmarks, written as a county hands it in: the
template's columns and zh-CN headers, choices as its drop-downs show them, children of many villages,
about one in five with a difficulty, and a few children a hotline report of the same run also names."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path

from cpnet.importer.columns import CATEGORY_COLUMNS, COLUMNS, INDICATOR_COLUMNS, WORDS, Sex
from shared.contracts.vocabulary import (
    Caregiver,
    Category,
    DisabilityKind,
    GuardianWhereabouts,
    HealthStatus,
    Indicator,
    SchoolStatus,
)
from shared.sample_reports import GIVEN, STREETS, SURNAMES, concerns, national_id

DIFFICULTY_SHARE = 0.20
SURVEY_DAYS = 30  # a township's survey campaign: the rows' dates spread over its last month
# The family situation a surveyor finds beside each difficulty; a child who is fine lives at home with
# one parent away as often as not.
SITUATION_OF: dict[Category | None, dict[str, tuple[StrEnum, ...]]] = {
    None: {
        "father": (GuardianWhereabouts.at_home, GuardianWhereabouts.migrant_work),
        "mother": (GuardianWhereabouts.at_home,),
        "caregiver": (Caregiver.parents, Caregiver.mother),
    },
    Category.left_behind: {
        "father": (GuardianWhereabouts.migrant_work,),
        "mother": (GuardianWhereabouts.migrant_work, GuardianWhereabouts.serious_illness),
        "caregiver": (Caregiver.grandparents, Caregiver.other_relatives),
    },
    Category.no_guardian: {
        "father": (GuardianWhereabouts.prison, GuardianWhereabouts.drug_use, GuardianWhereabouts.deceased),
        "mother": (GuardianWhereabouts.unknown, GuardianWhereabouts.deceased, GuardianWhereabouts.disability),
        "caregiver": (Caregiver.other_relatives, Caregiver.nobody, Caregiver.institution),
    },
    Category.abuse: {
        "father": (GuardianWhereabouts.at_home,),
        "mother": (GuardianWhereabouts.at_home,),
        "caregiver": (Caregiver.parents, Caregiver.father),
    },
    Category.illness_disability: {
        "health": (HealthStatus.serious_illness, HealthStatus.chronic_illness),
        "disability": (
            DisabilityKind.physical,
            DisabilityKind.intellectual,
            DisabilityKind.sensory,
            DisabilityKind.multiple,
        ),
    },
    Category.street: {"caregiver": (Caregiver.nobody, Caregiver.grandparents)},
    Category.trafficked: {
        "father": (GuardianWhereabouts.unknown,),
        "mother": (GuardianWhereabouts.unknown,),
        "caregiver": (Caregiver.foster_family, Caregiver.institution),
    },
}
WITH_ID_SHARE = 0.95  # a surveyor sits at the family's table: the id number is nearly always at hand


@dataclass(frozen=True)
class Survey:
    """The survey file and what the benchmark knows about its rows."""

    path: Path
    rows: int
    with_difficulty: int
    known_from_reports: int  # rows about a child a hotline report of this run names
    villages: int


# Each choice as the template's drop-down writes it, the zh-CN word, then the code (by kind of choice:
# the same code may mean a category and an indicator).
_SHOWN = {
    choices: {code: f"{word} {code}" for code, word in words.items()} for choices, words in WORDS.items()
}


def _shown(value: StrEnum) -> str:
    return _SHOWN[type(value)][value.value]


def _school_status(age: int, indicators: list[str]) -> SchoolStatus:
    if age < 6:
        return SchoolStatus.not_school_age
    if Indicator.out_of_school in indicators:
        return SchoolStatus.dropped_out
    return SchoolStatus.enrolled


class _Children:
    """New children of one survey, each id number drawn once: two children must never share one."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._ids: set[str] = set()

    def surveyed(self, village: str, surveyed: date) -> dict[str, str | None]:
        rng = self._rng
        sex = rng.choice("FM")
        birth = surveyed - timedelta(days=rng.randrange(30, 17 * 365))
        nid = None
        if rng.random() < WITH_ID_SHARE:
            while nid is None or nid in self._ids:
                nid = national_id(village, birth, sex, rng)
            self._ids.add(nid)
        return {
            "name": rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2)))),
            "national_id": nid,
            "sex": sex,
            "birth_date": birth.isoformat(),
            "address": f"{rng.choice(STREETS)}{rng.randrange(1, 300)}号",
        }


def _row(village: str, child: dict, surveyed: date, rng: random.Random) -> dict[str, str | None]:
    difficult = rng.random() < DIFFICULTY_SHARE
    categories, indicators = concerns(rng, immediate_danger=False) if difficult else ([], [])
    categories, indicators = categories[:CATEGORY_COLUMNS], indicators[:INDICATOR_COLUMNS]
    situation = {
        "father": GuardianWhereabouts.at_home,
        "mother": GuardianWhereabouts.at_home,
        "caregiver": Caregiver.parents,
        "health": HealthStatus.healthy,
        "disability": DisabilityKind.none,
    }
    for category in [None, *map(Category, categories)]:
        for column, choices in SITUATION_OF[category].items():
            situation[column] = rng.choice(choices)
    age = (surveyed - date.fromisoformat(child["birth_date"])).days // 365
    school_status = _school_status(age, indicators)
    cells = {
        "surveyed_at": surveyed.isoformat(),
        "surveyor_ref": f"S-{village[6:9]}-{rng.randrange(1, 9)}",
        "jurisdiction": village,
        "name": child["name"],
        "national_id": child["national_id"],
        "sex": _shown(Sex(child["sex"])),
        "birth_date": child["birth_date"],
        "address": child["address"],
        "school": f"{rng.choice(STREETS)}小学" if school_status is SchoolStatus.enrolled else None,
        "school_status": _shown(school_status),
        **{k: _shown(v) for k, v in situation.items()},
    }
    cells.update({f"category_{n}": _shown(Category(c)) for n, c in enumerate(categories, start=1)})
    cells.update({f"indicator_{n}": _shown(Indicator(i)) for n, i in enumerate(indicators, start=1)})
    return cells


def write_survey(
    path: Path,
    rows: int,
    *,
    places: list[str],
    run: str,
    rng: random.Random,
    known: list[tuple[str, dict]],
    known_share: float = 0.005,
) -> Survey:
    """`rows` children as a CSV file the importer reads. `known` are (village, child) pairs of hotline
    reports: about `known_share` of the rows survey one of them (same village and identity), so the
    import must match them. Identities come from the run's tag: every run surveys new children."""
    children = _Children(random.Random(f"survey-{run}"))
    today = date.today()
    known = [
        (village, child) for village, child in known if child.get("national_id") and child.get("birth_date")
    ]
    matched = rng.sample(range(rows), k=min(len(known), round(rows * known_share)))
    known_at = dict(zip(matched, known, strict=False))
    villages: set[str] = set()
    difficult = 0
    with path.open("w", encoding="utf-8", newline="") as stream:
        out = csv.writer(stream)
        out.writerow(column.zh for column in COLUMNS)
        for n in range(rows):
            surveyed = today - timedelta(days=rng.randrange(SURVEY_DAYS))
            village, child = known_at.get(n) or (rng.choice(places), None)
            if child is None:
                child = children.surveyed(village, surveyed)
            else:  # surveyed after the report was taken: as old as the report says, and a minor still
                surveyed = today
            cells = _row(village, child, surveyed, rng)
            difficult += cells.get("category_1") is not None
            villages.add(village)
            out.writerow(cells.get(column.key) for column in COLUMNS)
    return Survey(
        path, rows, with_difficulty=difficult, known_from_reports=len(known_at), villages=len(villages)
    )
