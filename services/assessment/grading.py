"""Risk grading: a versioned YAML rule set turns a case's facts into red / orange / blue, and
every rule that matched is kept as a factor, so the grade can be explained from them alone."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    field_validator,
    model_validator,
)

from shared.config import TerritoryPrefix, for_territory, graver_grade_first, load_yaml_config
from shared.contracts.events import RiskFactor
from shared.contracts.vocabulary import REASON_CODE_PATTERN, Category, Indicator, Need, RiskLevel

DEFAULT_RULES = Path(__file__).resolve().parents[2] / "config" / "grading.yaml"
FORCING_PREFIX = "forcing_"
REASON_CODE = re.compile(REASON_CODE_PATTERN)

# The models are strict (a weight of "35" or a version of 2026.11, which YAML reads as a
# float and would lose its trailing zero, are errors), but vocabulary names arrive as YAML
# strings, so the enums alone accept their string values.
_Category = Annotated[Category, Strict(False)]
_Indicator = Annotated[Indicator, Strict(False)]
_Need = Annotated[Need, Strict(False)]
_RiskLevel = Annotated[RiskLevel, Strict(False)]
# A rule's text is copied into every grade's factors; the contract caps it at 200 characters.
Why = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Weight = Annotated[int, Field(ge=0, le=1000)]


class RuleSetError(ValueError):
    """The rule set file is invalid; the one-line message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _require_all(table: dict[Any, Any], vocabulary: type) -> dict[Any, Any]:
    # A vocabulary value without a rule would be silently ignored when grading: refuse it, so
    # adding a value to the vocabulary forces someone to decide how it is weighed.
    missing = [value.value for value in vocabulary if value not in table]
    if missing:
        raise ValueError(f"no rule for {', '.join(missing)}")
    return table


class Rule(_Strict):
    weight: Weight
    why: Why


class Thresholds(_Strict):
    red: Annotated[int, Field(gt=0)]
    orange: Annotated[int, Field(gt=0)]

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if not self.red > self.orange:
            raise ValueError("red must be above orange (red > orange > 0)")
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

    @field_validator("bands")
    @classmethod
    def _ascending(cls, bands: list[AgeBand]) -> list[AgeBand]:
        # The first band whose max_age covers the child applies, so the order is the meaning.
        ages = [band.max_age for band in bands]
        if ages != sorted(set(ages)):
            raise ValueError("bands must be in strictly ascending max_age")
        return bands


class NeedRules(_Strict):
    categories: dict[_Category, Annotated[list[_Need], Field(min_length=1)]]
    indicators: dict[_Indicator, list[_Need]]

    @field_validator("categories")
    @classmethod
    def _every_category(cls, table: dict[Category, list[Need]]) -> dict[Category, list[Need]]:
        return _require_all(table, Category)

    @field_validator("indicators")
    @classmethod
    def _every_indicator(cls, table: dict[Indicator, list[Need]]) -> dict[Indicator, list[Need]]:
        return _require_all(table, Indicator)


class RuleSet(_Strict):
    version: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
    thresholds: Thresholds
    forcing: dict[_Indicator, Rule]
    indicators: dict[_Indicator, Rule]
    categories: dict[_Category, Rule]
    earlier_reports: EarlierReports
    age: AgeRules
    needs: NeedRules
    response_hours: dict[_RiskLevel, Annotated[int, Field(gt=0)]]
    # A territory's own deadlines, e.g. a remote county's; the graver-is-sooner rule holds there too.
    response_hours_by_territory: dict[TerritoryPrefix, dict[_RiskLevel, Annotated[int, Field(gt=0)]]] = {}

    @field_validator("forcing")
    @classmethod
    def _forces_immediate_danger(cls, table: dict[Indicator, Rule]) -> dict[Indicator, Rule]:
        # DESIGN §4: immediate danger always reaches the police at once; no jurisdiction may
        # configure that away.
        if Indicator.immediate_danger not in table:
            raise ValueError("must include immediate_danger")
        return table

    @field_validator("indicators")
    @classmethod
    def _every_indicator(cls, table: dict[Indicator, Rule]) -> dict[Indicator, Rule]:
        return _require_all(table, Indicator)

    @field_validator("categories")
    @classmethod
    def _every_category(cls, table: dict[Category, Rule]) -> dict[Category, Rule]:
        return _require_all(table, Category)

    @field_validator("response_hours")
    @classmethod
    def _graver_is_sooner(cls, hours: dict[RiskLevel, int]) -> dict[RiskLevel, int]:
        return _require_all(hours, RiskLevel)

    @model_validator(mode="after")
    def _graver_is_sooner_everywhere(self) -> RuleSet:
        graver_grade_first(
            self.response_hours,
            self.response_hours_by_territory,
            "response_hours: a graver level may not get a later deadline (red <= orange <= blue)",
        )
        return self

    @model_validator(mode="after")
    def _forced_scores_red(self) -> RuleSet:
        # A forced case's score alone must also read red, so no record ever shows a red
        # emergency beside an orange-looking score.
        for indicator, rule in self.forcing.items():
            if rule.weight < self.thresholds.red:
                raise ValueError(
                    f"forcing.{indicator.value}.weight: must be at least thresholds.red "
                    f"({self.thresholds.red})"
                )
        return self


def load_rules(path: Path | None = None) -> RuleSet:
    """Read and validate a rule set; `config/grading.yaml` at the repository root by default."""
    return load_yaml_config(path or DEFAULT_RULES, RuleSet, RuleSetError)


# ---- grading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFacts:
    """What is known about a case: the only input to grading."""

    categories: frozenset[Category]
    indicators: frozenset[Indicator]
    age_years: int | None
    earlier_reports: int

    def __post_init__(self) -> None:
        # Coerce plain strings to the vocabulary (and reject unknown ones) at the boundary.
        object.__setattr__(self, "categories", frozenset(Category(c) for c in self.categories))
        object.__setattr__(self, "indicators", frozenset(Indicator(i) for i in self.indicators))
        if self.age_years is not None and not 0 <= self.age_years <= 17:
            raise ValueError("age_years must be 0..17 or None")
        if self.earlier_reports < 0:
            raise ValueError("earlier_reports must not be negative")


@dataclass(frozen=True)
class Grade:
    risk_level: RiskLevel
    score: int
    factors: tuple[RiskFactor, ...]
    needs: tuple[Need, ...]
    emergency: bool
    rule_set_version: str


def _factor(code: str, rule: Rule) -> RiskFactor:
    return RiskFactor(code=code, weight=rule.weight, explanation=rule.why)


def _factors(rules: RuleSet, facts: CaseFacts) -> list[RiskFactor]:
    indicators = sorted(facts.indicators)
    # A forcing rule takes the place of the indicator's ordinary rule rather than adding to it:
    # the indicator is counted once, and its ordinary weight applies only if a jurisdiction
    # takes it off the forcing list.
    factors = [_factor(f"{FORCING_PREFIX}{i}", rules.forcing[i]) for i in indicators if i in rules.forcing]
    factors += [_factor(f"category_{c}", rules.categories[c]) for c in sorted(facts.categories)]
    factors += [_factor(f"indicator_{i}", rules.indicators[i]) for i in indicators if i not in rules.forcing]
    if facts.earlier_reports:
        earlier = rules.earlier_reports
        weight = min(earlier.cap, earlier.weight_each * facts.earlier_reports)
        factors.append(
            RiskFactor(
                code=f"earlier_reports_{facts.earlier_reports}", weight=weight, explanation=earlier.why
            )
        )
    if facts.age_years is None:
        factors.append(_factor("age_unknown", rules.age.unknown))
    else:
        band = next((b for b in rules.age.bands if facts.age_years <= b.max_age), None)
        if band is not None:
            factors.append(_factor(f"age_under_{band.max_age + 1}", band))
    return factors


def level_from_factors(rules: RuleSet, factors: Iterable[RiskFactor]) -> tuple[RiskLevel, bool]:
    """The grade and emergency flag that the factors alone imply: any forcing factor makes the
    case red and an emergency; otherwise the sum of the weights is compared to the thresholds.
    Works on the factors of a recorded `case.assessed` too, to audit it."""
    factors = list(factors)
    forcing = {f"{FORCING_PREFIX}{indicator}" for indicator in rules.forcing}
    if any(f.code in forcing for f in factors):
        return RiskLevel.red, True
    score = sum(f.weight for f in factors)
    if score >= rules.thresholds.red:
        return RiskLevel.red, False
    if score >= rules.thresholds.orange:
        return RiskLevel.orange, False
    return RiskLevel.blue, False


def grade(rules: RuleSet, facts: CaseFacts) -> Grade:
    """Grade a case: every matching rule becomes a factor, and the level is computed from the
    factors alone, so a grade is always explained by what it records."""
    factors = tuple(_factors(rules, facts))
    level, emergency = level_from_factors(rules, factors)
    needs = {n for c in facts.categories for n in rules.needs.categories[c]}
    needs |= {n for i in facts.indicators for n in rules.needs.indicators[i]}
    return Grade(
        risk_level=level,
        score=sum(f.weight for f in factors),
        factors=factors,
        needs=tuple(sorted(needs)),
        emergency=emergency,
        rule_set_version=rules.version,
    )


def explain(graded: Grade, rules: RuleSet) -> tuple[RiskLevel, bool]:
    """The level and emergency flag recomputed from a grade's factors; equal to the grade's own
    by construction, and the check an auditor runs on a recorded grade."""
    return level_from_factors(rules, graded.factors)


def response_due_at(
    rules: RuleSet, risk_level: RiskLevel, graded_at: datetime, *, jurisdiction: str
) -> datetime:
    """When the response to a case of `jurisdiction` graded `risk_level` at `graded_at` is due."""
    hours = for_territory(rules.response_hours, rules.response_hours_by_territory, jurisdiction)
    return graded_at + timedelta(hours=hours[risk_level])


# ---- the supervisor's override ----------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    """A supervisor's grade for a case, replacing the rules' grade while the facts stand."""

    risk_level: RiskLevel
    reason: str  # a ReasonCode: free text could carry a child's personal data
    by: str  # the supervisor's pseudonymous id

    def __post_init__(self) -> None:
        object.__setattr__(self, "risk_level", RiskLevel(self.risk_level))
        if not REASON_CODE.match(self.reason):
            raise ValueError(f"an override reason must be a reason code ({REASON_CODE_PATTERN})")
        if not self.by:
            raise ValueError("an override must say who made it")


def override_is_valid(initial: Grade, override: Override) -> None:
    """Raise ValueError if `override` may not replace the rules' grade `initial`.

    An override must change the grade (else it would record a judgement that changed nothing).
    A case forced red by an immediate-danger indicator may not be lowered below red by anyone:
    the mission requires such a case to reach the police at once, and a lower grade would
    lengthen the response deadline and slow the follow-up. The emergency flag always comes
    from the facts, so an override never sets or clears it.
    """
    if override.risk_level == initial.risk_level:
        raise ValueError(f"the case is already {initial.risk_level.value}; an override must change the grade")
    if initial.emergency and override.risk_level != RiskLevel.red:
        forced = ", ".join(
            f.code.removeprefix(FORCING_PREFIX) for f in initial.factors if f.code.startswith(FORCING_PREFIX)
        )
        raise ValueError(f"a case forced red by {forced} cannot be overridden below red")


def current_level(initial: RiskLevel, override: Override | None) -> tuple[RiskLevel, bool]:
    """The grade in force and whether a supervisor set it; the override wins."""
    if override is None:
        return initial, False
    return override.risk_level, True
