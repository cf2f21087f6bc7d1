"""Follow-up rules: the visit cadence by grade, when a visit is due or overdue, and when a
case may close. Pure: no framework, no database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.config import TerritoryPrefix, every_grade_graver_first, for_territory, load_yaml_config
from shared.contracts.vocabulary import RiskLevel

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "config" / "followup.yaml"


class PolicyError(ValueError):
    """The follow-up file is invalid; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Closure(_Strict):
    clean_visits_required: Annotated[int, Field(ge=1, le=52)]


class FollowupPolicy(_Strict):
    version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    cadence_days: dict[RiskLevel, Annotated[int, Field(ge=1, le=366)]]
    # A territory's own cadence, e.g. a remote county's; the same ordering rule holds there.
    cadence_days_by_territory: dict[
        TerritoryPrefix, dict[RiskLevel, Annotated[int, Field(ge=1, le=366)]]
    ] = {}
    overdue_after_hours: Annotated[int, Field(ge=0, le=24 * 30)]
    closure: Closure

    @model_validator(mode="after")
    def _complete(self) -> FollowupPolicy:
        every_grade_graver_first(
            self.cadence_days,
            self.cadence_days_by_territory,
            missing="cadence_days has no cadence",
            message="cadence_days: a higher grade must be visited at least as often as a lower one",
        )
        return self


def load_policy(path: Path | None = None) -> FollowupPolicy:
    return load_yaml_config(path or DEFAULT_POLICY, FollowupPolicy, PolicyError)


def cadence(policy: FollowupPolicy, risk_level: RiskLevel, *, jurisdiction: str) -> timedelta:
    """Days between visits of a case of `jurisdiction` at `risk_level`."""
    return timedelta(
        days=for_territory(policy.cadence_days, policy.cadence_days_by_territory, jurisdiction)[risk_level]
    )


def next_visit_due(
    policy: FollowupPolicy,
    risk_level: RiskLevel,
    *,
    jurisdiction: str,
    response_due_at: datetime,
    last_visit_at: datetime | None,
) -> datetime:
    """The first visit is due at the response deadline; each later one a cadence after the
    last visit, at the cadence of the grade in force (a re-grade changes it at once)."""
    if last_visit_at is None:
        return response_due_at
    return last_visit_at + cadence(policy, risk_level, jurisdiction=jurisdiction)


def overdue_grace(policy: FollowupPolicy) -> timedelta:
    """How long after its due time an unrecorded visit counts as overdue."""
    return timedelta(hours=policy.overdue_after_hours)


def overdue_at(policy: FollowupPolicy, due_at: datetime) -> datetime:
    return due_at + overdue_grace(policy)


def may_close(
    policy: FollowupPolicy, *, risk_level: RiskLevel, open_referrals: int, visits_found_risk: Sequence[bool]
) -> bool:
    """Blue, every referral done, and the last N visits (newest last) found no risk."""
    needed = policy.closure.clean_visits_required
    recent = list(visits_found_risk)[-needed:]
    return risk_level == RiskLevel.blue and open_referrals == 0 and len(recent) == needed and not any(recent)
