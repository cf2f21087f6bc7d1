"""Casework rules that are configuration (config/casework.yaml): the written review's deadline by
grade, per territory, the blind-spot grace, and how recent a visit a safe closure needs. Pure: no
framework, no database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.config import TerritoryPrefix, every_grade_graver_first, for_territory, load_yaml_config
from shared.contracts.vocabulary import RiskLevel

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "config" / "casework.yaml"
Hours = Annotated[int, Field(ge=1, le=24 * 30)]


class PolicyError(ValueError):
    """The casework file is invalid; the message names the file and the field."""


class CaseworkPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    review_hours: dict[RiskLevel, Hours]
    review_hours_by_territory: dict[TerritoryPrefix, dict[RiskLevel, Hours]] = {}
    # An open case with no owner or nothing due this long after its last activity is a blind spot.
    blind_spot_after_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 30
    # A red or orange case closes as safe only after a follow-up visit within this many days.
    closure_visit_within_days: Annotated[int, Field(ge=1, le=365)] = 30

    @model_validator(mode="after")
    def _complete(self) -> CaseworkPolicy:
        every_grade_graver_first(
            self.review_hours,
            self.review_hours_by_territory,
            missing="review_hours has no deadline",
            message="review_hours: a higher grade must be reviewed at least as soon as a lower one",
        )
        return self

    @property
    def blind_spot_after(self) -> timedelta:
        return timedelta(minutes=self.blind_spot_after_minutes)

    @property
    def closure_visit_within(self) -> timedelta:
        return timedelta(days=self.closure_visit_within_days)

    def review_within(self, level: RiskLevel, jurisdiction: str) -> timedelta:
        hours = for_territory(self.review_hours, self.review_hours_by_territory, jurisdiction)[level]
        return timedelta(hours=hours)


def load_policy(path: Path | None = None) -> CaseworkPolicy:
    return load_yaml_config(path or DEFAULT_POLICY, CaseworkPolicy, PolicyError)
