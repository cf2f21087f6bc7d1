"""The territory code: 12 digits naming one node of the network (2 province, 2 city, 2 county,
3 township, 3 village), its level, its ancestors and its subtree — the one place these lengths live."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from sqlalchemy import ColumnElement, func


class TerritoryLevel(StrEnum):
    """The levels of the territory tree, from the top down."""

    province = "province"
    city = "city"
    county = "county"
    township = "township"
    village = "village"


CODE_DIGITS = 12
# The digits that name a node at each level; the rest of its code is zeros.
DIGITS = MappingProxyType(
    {
        TerritoryLevel.province: 2,
        TerritoryLevel.city: 4,
        TerritoryLevel.county: 6,
        TerritoryLevel.township: 9,
        TerritoryLevel.village: 12,
    }
)

PREFIX_PATTERN = "^(?:" + "|".join(f"[0-9]{{{n}}}" for n in DIGITS.values()) + ")$"
"""A node as the code prefix of its subtree (e.g. 1404 the city, 140402001 a township): what
a token's territory and the `*_by_territory` settings are written in."""

_CODE = re.compile(f"[0-9]{{{CODE_DIGITS}}}")
_LEVELS = tuple(TerritoryLevel)


@dataclass(frozen=True, order=True)
class TerritoryCode:
    """A 12-digit code; trailing zero segments mean the node is higher up the tree."""

    code: str

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not _CODE.fullmatch(self.code):
            raise ValueError(f"a territory code has {CODE_DIGITS} digits")

    def __str__(self) -> str:
        return self.code

    def segment(self, level: TerritoryLevel) -> int:
        """The number this code gives at `level` (0: the node is above that level)."""
        index = _LEVELS.index(level)
        start = DIGITS[_LEVELS[index - 1]] if index else 0
        return int(self.code[start : DIGITS[level]])

    @property
    def level(self) -> TerritoryLevel:
        """The deepest level whose segment is not all zeros (province when none is)."""
        return next((level for level in reversed(_LEVELS) if self.segment(level)), TerritoryLevel.province)

    @property
    def prefix(self) -> str:
        """The digits that name the node: the code prefix of its subtree."""
        return self.code[: DIGITS[self.level]]

    @property
    def skips_a_level(self) -> bool:
        """A zero segment at or above the node's own level (a township under no county, the
        all-zero code): such a code names no real node, and its parent would not be one level up."""
        levels = _LEVELS[: _LEVELS.index(self.level) + 1]
        return not all(self.segment(level) for level in levels)

    @property
    def parent(self) -> TerritoryCode | None:
        """The node one level up; None for a province."""
        index = _LEVELS.index(self.level)
        return self.at(_LEVELS[index - 1]) if index else None

    def at(self, level: TerritoryLevel) -> TerritoryCode:
        """This node's ancestor at `level` (itself at its own level or below)."""
        kept = min(DIGITS[level], DIGITS[self.level])
        return TerritoryCode(self.code[:kept].ljust(CODE_DIGITS, "0"))

    def contains(self, other: TerritoryCode) -> bool:
        """Whether `other` lies in this node's subtree (a node contains itself)."""
        return other.code.startswith(self.prefix)


# The levels whose supervisors convene joint meetings of the departments (联席会议): a township's take part.
CONVENING_LEVELS = (TerritoryLevel.province, TerritoryLevel.city, TerritoryLevel.county)


def territory_level(jurisdiction: str) -> TerritoryLevel:
    """The level of the node a 12-digit code names."""
    return TerritoryCode(jurisdiction).level


def is_within(jurisdiction: str, ancestor: str) -> bool:
    """Whether `jurisdiction` lies in the subtree of `ancestor` (a node is within itself)."""
    return TerritoryCode(ancestor).contains(TerritoryCode(jurisdiction))


def node_at(jurisdiction: str, level: TerritoryLevel) -> str:
    """The code of the ancestor of `jurisdiction` at `level`."""
    return TerritoryCode(jurisdiction).at(level).code


def below_level(code: ColumnElement[str], level: TerritoryLevel) -> ColumnElement[bool]:
    """SQL: the node a code column names lies strictly below `level` (its digits after that
    level's are not all zeros)."""
    kept = DIGITS[level]
    return func.substr(code, kept + 1) != "0" * (CODE_DIGITS - kept)


def node_of(prefix: str) -> str:
    """The node a territory prefix names: its code with the levels below it zero (14 04 04 → 140404000000)."""
    return prefix.ljust(CODE_DIGITS, "0")


def in_subtree(code: ColumnElement[str], prefix: str) -> ColumnElement[bool]:
    """SQL: the node a code column names is `prefix`'s node or lies below it (`code LIKE 'prefix%'`).
    The one way to filter by territory: the prefix's `%`, `_` and the escape character are escaped, so
    a prefix matches only itself."""
    return code.startswith(prefix, autoescape=True)
