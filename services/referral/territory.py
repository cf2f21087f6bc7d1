"""Escalation up the four-level network: village → township → county → city, as codes."""

from __future__ import annotations

from sqlalchemy import ColumnElement

from shared.territory.code import DIGITS, TerritoryCode, TerritoryLevel, below_level, node_at


def below_the_top(holder: ColumnElement[str]) -> ColumnElement[bool]:
    """The SQL form of `escalation_target(holder) is not None`: the node is below the city,
    so escalation can still move it up (a city or province code is zeros after the city's digits)."""
    return below_level(holder, TerritoryLevel.city)


def escalation_target(jurisdiction: str) -> tuple[str, TerritoryLevel] | None:
    """The next level up from the node `jurisdiction` names; None at the city (the top of
    the protection network: a city-level miss is for the city's own supervisors)."""
    code = TerritoryCode(jurisdiction)
    if code.level in (TerritoryLevel.city, TerritoryLevel.province):
        return None
    parent = code.parent
    return parent.code, parent.level


def holder_after_move(holder: str, jurisdiction: str) -> str:
    """Who answers for an open referral once its case moved to `jurisdiction`: the new territory's
    node at the level the referral had reached (escalated to the old county, it is the new county's)."""
    level = TerritoryCode(holder).level
    if DIGITS[level] >= DIGITS[TerritoryCode(jurisdiction).level]:
        return jurisdiction
    return node_at(jurisdiction, level)
