"""What a joint meeting (联席会议) of a territory should look at, proposed from the record (issue 24):
the open cases where departments are passing a child back and forth or leaving a blind spot
(避免互相推诿和帮扶盲区). Pure: from a node's happenings (services/audit/indicators.py), as of a moment.

A case is proposed for each of these, oldest first:
- `referral_declined` — a department declined its referral, and the case has no other referral to
  that kind of department since;
- `referral_long_overdue` — a referral still unanswered three days past its deadline;
- `red_without_plan` — red for fourteen days with no assistance plan;
- `red_without_service_delivered` — red, planned thirty days ago, and no service delivered yet.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.audit.indicators import CaseRecord, Happening, Kind, case_records, is_open
from shared.contracts.vocabulary import ReferralState, RiskLevel, ServiceState
from shared.territory.code import is_within

LONG_OVERDUE = timedelta(days=3)
PLAN_DUE = timedelta(days=14)
SERVICE_DUE = timedelta(days=30)
REASONS = ("referral_declined", "referral_long_overdue", "red_without_plan", "red_without_service_delivered")


@dataclass(frozen=True)
class Proposal:
    """A case for the meeting's agenda: why (reason codes, with the agencies concerned) and since when."""

    case_id: uuid.UUID
    number: str | None
    jurisdiction: str
    reasons: tuple[str, ...]
    agencies: tuple[str, ...]
    since: datetime


def _why(case: CaseRecord, at: datetime) -> tuple[list[str], set[str], list[datetime]]:
    reasons, agencies, since = [], set(), []
    sent = [h for h in case.happenings if h.kind == Kind.referred]
    changes = [h for h in case.happenings if h.kind == Kind.referral_changed]
    for referral in sent:
        states = [h for h in changes if h.ref == referral.ref]
        last = states[-1] if states else None
        later = any(h.agency == referral.agency and h.at > referral.at for h in sent)
        if last is not None and last.code == ReferralState.declined and not later:
            reasons.append("referral_declined")
            agencies.add(referral.agency)
            since.append(last.at)
        answered = any(h.code != ReferralState.created for h in states)
        if not answered and referral.due_at and referral.due_at + LONG_OVERDUE <= at:
            reasons.append("referral_long_overdue")
            agencies.add(referral.agency)
            since.append(referral.due_at)
    red = next((h for h in case.happenings if h.kind == Kind.graded and h.code == RiskLevel.red), None)
    plan = case.first(Kind.planned)
    if red and plan is None and red.at + PLAN_DUE <= at:
        reasons.append("red_without_plan")
        since.append(red.at)
    delivered = any(
        h.kind == Kind.service_changed and h.code == ServiceState.delivered for h in case.happenings
    )
    if red and plan and not delivered and plan.at + SERVICE_DUE <= at:
        reasons.append("red_without_service_delivered")
        since.append(plan.at)
    return reasons, agencies, since


def agenda(happenings: Iterable[Happening], node: str, at: datetime) -> list[Proposal]:
    """The open cases of `node` a joint meeting should look at, as of `at`, the longest waiting first."""
    proposals = []
    for case in case_records(happenings, at).values():
        place = case.place()
        if place is None or not is_within(place, node) or not is_open(case):
            continue
        reasons, agencies, since = _why(case, at)
        if reasons:
            report = case.first(Kind.reported)
            proposals.append(
                Proposal(
                    case_id=case.case_id,
                    number=report.number if report else None,
                    jurisdiction=place,
                    reasons=tuple(r for r in REASONS if r in reasons),
                    agencies=tuple(sorted(agencies)),
                    since=min(since),
                )
            )
    return sorted(proposals, key=lambda p: (p.since, str(p.case_id)))
