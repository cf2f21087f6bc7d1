"""Escalation up the four-level network: village → township → county → city, as codes."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func

from shared.contracts.vocabulary import TerritoryLevel, territory_level

# Digits kept at each level of a 12-digit code (2 province, 2 city, 2 county, 3 township, 3 village).
_KEPT = {TerritoryLevel.province: 2, TerritoryLevel.city: 4, TerritoryLevel.county: 6,
         TerritoryLevel.township: 9, TerritoryLevel.village: 12}
_UP = {TerritoryLevel.village: TerritoryLevel.township, TerritoryLevel.township: TerritoryLevel.county,
       TerritoryLevel.county: TerritoryLevel.city}


def node_at(jurisdiction: str, level: TerritoryLevel) -> str:
    kept = _KEPT[level]
    return jurisdiction[:kept] + "0" * (12 - kept)


def below_the_top(holder: ColumnElement[str]) -> ColumnElement[bool]:
    """The SQL form of `escalation_target(holder) is not None`: the node is below the city,
    so escalation can still move it up (a city or province code is zeros after the city's digits)."""
    kept = _KEPT[TerritoryLevel.city]
    return func.substr(holder, kept + 1) != "0" * (12 - kept)


def escalation_target(jurisdiction: str) -> tuple[str, TerritoryLevel] | None:
    """The next level up from the node `jurisdiction` names; None at the city (the top of
    the protection network: a city-level miss is for the city's own supervisors)."""
    up = _UP.get(territory_level(jurisdiction))
    if up is None:
        return None
    return node_at(jurisdiction, up), up
