"""Risk grading: a versioned YAML rule set turns a case's facts into red / orange / blue,
with every contributing rule recorded as a factor. Pure: no framework, no database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from shared.contracts.vocabulary import Category, Indicator, Need, RiskLevel

DEFAULT_RULES = Path(__file__).resolve().parents[2] / "config" / "grading.yaml"
Why = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Weight = Annotated[int, Field(ge=0, le=1000)]


class RuleSetError(ValueError):
    """The rule set file is invalid; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Strict):
    weight: Weight
    why: Why


class Thresholds(_Strict):
    red: Annotated[int, Field(gt=0)]
    orange: Annotated[int, Field(gt=0)]

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if not self.red > self.orange:
            raise ValueError("red must be above orange")
        return self


class EarlierReports(_Strict):
    weight_each: Weight
    cap: Weight
    why: Why


class AgeBand(Rule):
    max_age: Annotated[int, Field(ge=0, le=17)]


class AgeRules(_Strict):
    bands: list[AgeBand]
    unknown: Rule

    @model_validator(mode="after")
    def _ascending(self) -> AgeRules:
        ages = [band.max_age for band in self.bands]
        if ages != sorted(set(ages)):
            raise ValueError("bands must have strictly ascending max_age")
        return self


class NeedRules(_Strict):
    categories: dict[Category, list[Need]]
    indicators: dict[Indicator, list[Need]]


class RuleSet(_Strict):
    version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    thresholds: Thresholds
    forcing: dict[Indicator, Rule]
    indicators: dict[Indicator, Rule]
    categories: dict[Category, Rule]
    earlier_reports: EarlierReports
    age: AgeRules
    needs: NeedRules
    response_hours: dict[RiskLevel, Annotated[int, Field(gt=0)]]

    @model_validator(mode="after")
    def _complete(self) -> RuleSet:
        # A vocabulary value without a rule would be silently ignored: refuse that.
        for name, table, vocabulary in (("indicators", self.indicators, Indicator),
                                        ("categories", self.categories, Category),
                                        ("response_hours", self.response_hours, RiskLevel)):
            missing = sorted(set(vocabulary) - set(table))
            if missing:
                raise ValueError(f"{name} has no rule for {', '.join(missing)}")
        if not self.forcing:
            raise ValueError("forcing names no indicator")
        return self


def load_rules(path: Path | None = None) -> RuleSet:
    path = path or DEFAULT_RULES
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RuleSetError(f"{path}: cannot be read as YAML ({type(exc).__name__})") from None
    try:
        return RuleSet.model_validate(document)
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise RuleSetError(f"{path}: {where}: {first['msg']}") from None


@dataclass(frozen=True)
class CaseFacts:
    categories: frozenset[Category]
    indicators: frozenset[Indicator]
    age_years: int | None
    earlier_reports: int


@dataclass(frozen=True)
class Factor:
    code: str
    weight: int
    explanation: str


@dataclass(frozen=True)
class Grade:
    risk_level: RiskLevel
    score: int
    factors: tuple[Factor, ...]
    needs: tuple[Need, ...]
    emergency: bool
    rule_set_version: str


FORCING_PREFIX = "forcing_"


def _factors(rules: RuleSet, facts: CaseFacts) -> list[Factor]:
    factors = [Factor(f"{FORCING_PREFIX}{i}", rules.forcing[i].weight, rules.forcing[i].why)
               for i in sorted(facts.indicators) if i in rules.forcing]
    factors += [Factor(f"category_{c}", rules.categories[c].weight, rules.categories[c].why)
                for c in sorted(facts.categories)]
    factors += [Factor(f"indicator_{i}", rules.indicators[i].weight, rules.indicators[i].why)
                for i in sorted(facts.indicators) if rules.indicators[i].weight]
    if facts.earlier_reports:
        earlier = rules.earlier_reports
        factors.append(Factor(f"earlier_reports_{facts.earlier_reports}",
                              min(earlier.cap, earlier.weight_each * facts.earlier_reports), earlier.why))
    if facts.age_years is None:
        factors.append(Factor("age_unknown", rules.age.unknown.weight, rules.age.unknown.why))
    else:
        band = next((b for b in rules.age.bands if facts.age_years <= b.max_age), None)
        if band is not None:
            factors.append(Factor(f"age_up_to_{band.max_age}", band.weight, band.why))
    return factors


def level_from_factors(rules: RuleSet, factors: tuple[Factor, ...] | list[Factor]) -> tuple[RiskLevel, bool]:
    """The grade and emergency flag that a list of factors alone implies."""
    if any(f.code.startswith(FORCING_PREFIX) for f in factors):
        return RiskLevel.red, True
    score = sum(f.weight for f in factors)
    if score >= rules.thresholds.red:
        return RiskLevel.red, False
    if score >= rules.thresholds.orange:
        return RiskLevel.orange, False
    return RiskLevel.blue, False


def grade(rules: RuleSet, facts: CaseFacts) -> Grade:
    factors = tuple(_factors(rules, facts))
    level, emergency = level_from_factors(rules, factors)
    needs = {n for c in facts.categories for n in rules.needs.categories.get(c, [])}
    needs |= {n for i in facts.indicators for n in rules.needs.indicators.get(i, [])}
    return Grade(risk_level=level, score=sum(f.weight for f in factors), factors=factors,
                 needs=tuple(sorted(needs)), emergency=emergency, rule_set_version=rules.version)


def response_due_at(rules: RuleSet, risk_level: RiskLevel, graded_at: datetime) -> datetime:
    return graded_at + timedelta(hours=rules.response_hours[risk_level])


# ---- the supervisor's override ------------------------------------------------------------

@dataclass(frozen=True)
class Override:
    risk_level: RiskLevel
    reason: str  # a ReasonCode: free text could carry a child's personal data
    by: str


def override_is_valid(graded: Grade, override: Override) -> None:
    """Raises ValueError when the override may not stand.

    An emergency (a forcing indicator) cannot be graded below red by anyone: the mission
    requires that immediate danger reach the police at once, whatever a reviewer thinks.
    """
    if override.risk_level == graded.risk_level:
        raise ValueError(f"the case is already {graded.risk_level}; an override must change the grade")
    if graded.emergency and override.risk_level != RiskLevel.red:
        forced = ", ".join(f.code.removeprefix(FORCING_PREFIX) for f in graded.factors
                           if f.code.startswith(FORCING_PREFIX))
        raise ValueError(f"a case forced red by {forced} cannot be overridden below red")


def current_level(initial: RiskLevel, override: Override | None) -> tuple[RiskLevel, bool]:
    """The grade in force and whether a supervisor set it."""
    if override is None:
        return initial, False
    return override.risk_level, True
