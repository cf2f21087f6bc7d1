"""Referral routing: a versioned YAML table decides which agencies must act on a graded case
and by when each must acknowledge. Pure: no framework, no database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.config import TerritoryPrefix, every_grade_graver_first, for_territory, load_yaml_config
from shared.contracts.vocabulary import Agency, Category, Need, RiskLevel

DEFAULT_ROUTES = Path(__file__).resolve().parents[2] / "config" / "referral.yaml"


class RoutingError(ValueError):
    """The routing file is invalid; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    emergency: bool | None = None
    risk_levels: list[RiskLevel] = Field(default_factory=list)
    categories: list[Category] = Field(default_factory=list)
    needs: list[Need] = Field(default_factory=list)

    @model_validator(mode="after")
    def _says_something(self) -> Condition:
        if self.emergency is None and not (self.risk_levels or self.categories or self.needs):
            raise ValueError("a route's `when` needs at least one condition")
        return self

    def matches(self, case: GradedCase) -> bool:
        return (
            (self.emergency is not None and self.emergency == case.emergency)
            or case.risk_level in self.risk_levels
            or bool(set(self.categories) & case.categories)
            or bool(set(self.needs) & case.needs)
        )


class Route(_Strict):
    when: Condition
    agencies: Annotated[list[Agency], Field(min_length=1)]
    why: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class RoutingTable(_Strict):
    version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    routes: Annotated[list[Route], Field(min_length=1)]
    ack_hours: dict[RiskLevel, Annotated[int, Field(gt=0)]]
    # A territory's own deadlines, e.g. a remote county's; every grade keeps one.
    ack_hours_by_territory: dict[TerritoryPrefix, dict[RiskLevel, Annotated[int, Field(gt=0)]]] = {}

    @model_validator(mode="after")
    def _complete(self) -> RoutingTable:
        every_grade_graver_first(
            self.ack_hours,
            self.ack_hours_by_territory,
            missing="ack_hours has no deadline",
            message="ack_hours: a graver grade may not get a later deadline (red <= orange <= blue)",
        )
        if not any(r.when.emergency and Agency.police in r.agencies for r in self.routes):
            raise ValueError("routes must send every emergency to the police")
        return self


@dataclass(frozen=True)
class GradedCase:
    risk_level: RiskLevel
    emergency: bool
    categories: frozenset[Category]
    needs: frozenset[Need]


@dataclass(frozen=True)
class Destination:
    agency: Agency
    reasons: tuple[str, ...]  # the `why` of every route that chose this agency


@dataclass
class _Answers:
    table: RoutingTable  # held, so that its id is not another table's while the answers are kept
    destinations: dict[GradedCase, tuple[Destination, ...]] = field(default_factory=dict)
    ack_hours: dict[str, dict[RiskLevel, int]] = field(default_factory=dict)


# What each table answered, kept: a batch asks the same few questions thousands of times (cases fall
# into a few dozen kinds, in a few hundred villages), and a table never changes (it is frozen).
_ANSWERS: dict[int, _Answers] = {}


def _answers_of(table: RoutingTable) -> _Answers:
    answers = _ANSWERS.get(id(table))
    if answers is None or answers.table is not table:
        if len(_ANSWERS) >= 16:  # tables are loaded once per process; tests make many
            _ANSWERS.clear()
        answers = _ANSWERS[id(table)] = _Answers(table)
    return answers


def load_routes(path: Path | None = None) -> RoutingTable:
    return load_yaml_config(path or DEFAULT_ROUTES, RoutingTable, RoutingError)


def destinations(table: RoutingTable, case: GradedCase) -> tuple[Destination, ...]:
    """Every agency that must act, once each, with the reasons; the police first."""
    answers = _answers_of(table)
    found = answers.destinations.get(case)
    if found is None:
        found = answers.destinations[case] = _destinations(table, case)
    return found


def _destinations(table: RoutingTable, case: GradedCase) -> tuple[Destination, ...]:
    reasons: dict[Agency, list[str]] = {}
    for route in table.routes:
        if route.when.matches(case):
            for agency in route.agencies:
                reasons.setdefault(agency, []).append(route.why)
    order = sorted(reasons, key=lambda a: (a != Agency.police, list(Agency).index(a)))
    return tuple(Destination(agency, tuple(reasons[agency])) for agency in order)


def ack_due_at(table: RoutingTable, risk_level: RiskLevel, since: datetime, *, jurisdiction: str) -> datetime:
    """When a referral of a case of `jurisdiction` at `risk_level`, made at `since`, must be acknowledged."""
    answers = _answers_of(table)
    hours = answers.ack_hours.get(jurisdiction)
    if hours is None:
        hours = answers.ack_hours[jurisdiction] = for_territory(
            table.ack_hours, table.ack_hours_by_territory, jurisdiction
        )
    return since + timedelta(hours=hours[risk_level])
