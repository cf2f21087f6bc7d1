"""The survey's columns — their zh-CN and English headers, and the words a clerk may choose in
each — the one table the template, the readers and the row validation all follow."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from shared.contracts.vocabulary import (
    Caregiver,
    Category,
    DisabilityKind,
    GuardianWhereabouts,
    HealthStatus,
    Indicator,
    SchoolStatus,
)


class Sex(StrEnum):
    F = "F"
    M = "M"
    U = "U"


# The zh-CN word a village clerk knows each value by; the drop-downs show "word code", so the
# clerk reads Chinese and the value stays unambiguous for the import (and an English reader).
WORDS: dict[type[StrEnum], dict[str, str]] = {
    Sex: {"F": "女", "M": "男", "U": "不详"},
    GuardianWhereabouts: {
        "at_home": "在家",
        "migrant_work": "外出务工",
        "prison": "服刑在押",
        "drug_use": "吸毒",
        "serious_illness": "重病",
        "disability": "重残",
        "deceased": "死亡",
        "unknown": "不详",
    },
    Caregiver: {
        "parents": "父母",
        "father": "父亲",
        "mother": "母亲",
        "grandparents": "祖父母或外祖父母",
        "other_relatives": "其他亲属",
        "foster_family": "寄养家庭",
        "institution": "福利机构",
        "nobody": "无人照料",
    },
    SchoolStatus: {
        "enrolled": "在校",
        "dropped_out": "辍学",
        "never_enrolled": "未入学",
        "not_school_age": "未到入学年龄",
    },
    HealthStatus: {"healthy": "健康", "chronic_illness": "慢性病", "serious_illness": "重病"},
    DisabilityKind: {
        "none": "无",
        "physical": "肢体残疾",
        "intellectual": "智力残疾",
        "mental": "精神残疾",
        "sensory": "视力听力言语残疾",
        "multiple": "多重残疾",
    },
    Category: {
        "street": "流浪乞讨",
        "no_guardian": "事实无人抚养",
        "abuse": "遭受家暴虐待遗弃",
        "left_behind": "留守流动缺乏有效监护",
        "trafficked": "拐卖非法用工传销",
        "illness_disability": "自身重病重残",
    },
    Indicator: {
        "immediate_danger": "面临紧急危险",
        "visible_injury": "有明显伤痕",
        "sexual_abuse_suspected": "疑似遭受性侵害",
        "no_caregiver": "无人照料",
        "guardian_incarcerated": "监护人服刑",
        "guardian_drug_use": "监护人吸毒",
        "guardian_seriously_ill": "监护人重病",
        "abandoned": "被遗弃",
        "domestic_violence": "家庭暴力",
        "begging": "流浪乞讨",
        "out_of_school": "失学辍学",
        "left_behind": "留守",
        "trafficking_suspected": "疑似被拐卖",
        "illegal_employment": "非法用工",
        "serious_illness": "患重病",
        "disability": "残疾",
        "psychological_distress": "心理困扰",
        "self_harm_risk": "有自伤风险",
    },
}


def entries(choices: type[StrEnum]) -> list[str]:
    """A drop-down's entries: each value's zh-CN word, then its code."""
    return [f"{WORDS[choices][member.value]} {member.value}" for member in choices]


Kind = Literal["text", "date", "code", "choice"]


@dataclass(frozen=True)
class Column:
    key: str  # the English key: a JSON-lines field, and accepted as a header
    zh: str
    en: str
    kind: Kind = "text"
    choices: type[StrEnum] | None = None
    required: bool = False  # a value is needed in every row
    optional_header: bool = False  # the file may leave the column out altogether


CATEGORY_COLUMNS = 3  # few children have more than one kind of difficulty; three is plenty
INDICATOR_COLUMNS = 4

COLUMNS: tuple[Column, ...] = (
    Column("surveyed_at", "调查日期", "Survey date", "date", required=True),
    Column("surveyor_ref", "调查人编号", "Surveyor ID", required=True),
    Column("jurisdiction", "村（社区）代码", "Village code (12 digits)", "code", required=True),
    Column("name", "儿童姓名", "Child's name"),
    Column("national_id", "身份证号", "National ID number"),
    Column("sex", "性别", "Sex", "choice", Sex, required=True),
    Column("birth_date", "出生日期", "Date of birth", "date"),
    Column("address", "家庭住址", "Home address"),
    Column("school", "就读学校", "School"),
    Column("father", "父亲状况", "Father's whereabouts", "choice", GuardianWhereabouts, required=True),
    Column("mother", "母亲状况", "Mother's whereabouts", "choice", GuardianWhereabouts, required=True),
    Column("caregiver", "实际照料人", "Who actually cares for the child", "choice", Caregiver, required=True),
    Column("school_status", "就学状况", "School status", "choice", SchoolStatus, required=True),
    Column("health", "健康状况", "Health", "choice", HealthStatus, required=True),
    Column("disability", "残疾状况", "Disability", "choice", DisabilityKind, required=True),
    *(
        Column(f"category_{n}", f"困境类别{n}", f"Category {n}", "choice", Category, optional_header=True)
        for n in range(1, CATEGORY_COLUMNS + 1)
    ),
    *(
        Column(f"indicator_{n}", f"风险指标{n}", f"Indicator {n}", "choice", Indicator, optional_header=True)
        for n in range(1, INDICATOR_COLUMNS + 1)
    ),
)
BY_KEY = {column.key: column for column in COLUMNS}


def _normal(header: str) -> str:
    return " ".join(header.split()).casefold()


# A header cell may be a column's zh-CN header, its English header or its key.
_HEADERS = {_normal(name): column.key for column in COLUMNS for name in (column.zh, column.en, column.key)}


def column_of_header(header: object) -> str | None:
    """The column key a header cell names, or None."""
    return _HEADERS.get(_normal(str(header))) if header is not None else None


def _choice_lookup(choices: type[StrEnum]) -> dict[str, str]:
    words = WORDS[choices]
    lookup = {}
    for member in choices:
        for spelling in (member.value, words[member.value], f"{words[member.value]} {member.value}"):
            lookup[_normal(spelling)] = member.value
    return lookup


_CHOICES = {choices: _choice_lookup(choices) for choices in WORDS}


def choice_value(column: Column, text: str) -> str | None:
    """The code a cell means: the code, the zh-CN word, or the drop-down's "word code"."""
    assert column.choices is not None
    return _CHOICES[column.choices].get(_normal(text))
