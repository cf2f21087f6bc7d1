"""What a joint meeting (联席会议) of a territory should look at, proposed from the record (issue 24):
the open cases where departments are passing a child back and forth or leaving a blind spot
(避免互相推诿和帮扶盲区). `agenda` is the rule, pure, from a node's happenings (services/audit/indicators.py),
as of a moment; `proposed` finds the same in the database, and is what audit's API answers.

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

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.indicators import CaseRecord, Happening, Kind, case_records, is_open
from shared.contracts.vocabulary import ReferralState, RiskLevel, ServiceState
from shared.territory.code import TerritoryCode, is_within

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


# The same rules said over the facts the database keeps (audit_0010: a case's span in force at `at`
# with its firsts, each referral's first answer) and, for a referral's last state, its changes: a node
# of 100,000 cases is proposed without reading its happenings into Python. Each row: a case, a reason,
# the agency concerned (a referral's) and since when; `proposed` gathers them as `agenda` does.
_PROPOSED = text("""
WITH open_cases AS MATERIALIZED (
  SELECT s.case_id, s.place, s.red_at, s.planned_at, s.delivered_at FROM audit.case_spans s
  WHERE s.open AND s.since < :at AND (s.until IS NULL OR s.until >= :at) AND s.place LIKE :node_like
),
referrals AS MATERIALIZED (
  SELECT r.case_id, r.ref, r.agency, r.sent_at, r.due_at, r.answered_at, c.place
  FROM audit.referral_facts r JOIN open_cases c USING (case_id) WHERE r.sent_at < :at
),
last_state AS (
  SELECT DISTINCT ON (h.case_id, h.ref) h.case_id, h.ref, h.code, h.at
  FROM audit.happenings h WHERE h.kind = 'referral_changed' AND h.at < :at
    AND h.case_id IN (SELECT case_id FROM referrals)
  ORDER BY h.case_id, h.ref, h.at DESC, h.event_key COLLATE "C" DESC
)
SELECT r.case_id, r.place, 'referral_declined', r.agency, l.at
  FROM referrals r JOIN last_state l ON l.case_id = r.case_id AND l.ref IS NOT DISTINCT FROM r.ref
  WHERE l.code = 'declined' AND NOT EXISTS (
    SELECT 1 FROM referrals later WHERE later.case_id = r.case_id
      AND later.agency IS NOT DISTINCT FROM r.agency AND later.sent_at > r.sent_at)
UNION ALL
SELECT case_id, place, 'referral_long_overdue', agency, due_at FROM referrals
  WHERE NOT coalesce(answered_at < :at, false) AND due_at + :long_overdue <= :at
UNION ALL
SELECT case_id, place, 'red_without_plan', NULL, red_at FROM open_cases
  WHERE red_at + :plan_due <= :at AND NOT coalesce(planned_at < :at, false)
UNION ALL
SELECT case_id, place, 'red_without_service_delivered', NULL, planned_at FROM open_cases
  WHERE red_at < :at AND planned_at + :service_due <= :at AND NOT coalesce(delivered_at < :at, false)
""")
_NUMBERS = text("""
SELECT DISTINCT ON (case_id) case_id, number FROM audit.happenings
WHERE kind = 'reported' AND case_id = ANY (:cases) AND at < :at
ORDER BY case_id, at, event_key COLLATE "C"
""")


async def proposed(session: AsyncSession, node: str, at: datetime) -> list[Proposal]:
    """What `agenda(node_happenings(session, node, at), node, at)` gives, found by the database."""
    found: dict[uuid.UUID, tuple[str, set[str], set[str], list[datetime]]] = {}
    rows = await session.execute(
        _PROPOSED,
        {
            "node_like": TerritoryCode(node).prefix + "%",
            "at": at,
            "long_overdue": LONG_OVERDUE,
            "plan_due": PLAN_DUE,
            "service_due": SERVICE_DUE,
        },
    )
    for case_id, place, reason, agency, since in rows:
        _, reasons, agencies, sinces = found.setdefault(case_id, (place, set(), set(), []))
        reasons.add(reason)
        if agency is not None:
            agencies.add(agency)
        sinces.append(since)
    numbers = dict((await session.execute(_NUMBERS, {"cases": list(found), "at": at})).all()) if found else {}
    return sorted(
        (
            Proposal(
                case_id=case_id,
                number=numbers.get(case_id),
                jurisdiction=place,
                reasons=tuple(r for r in REASONS if r in reasons),
                agencies=tuple(sorted(agencies)),
                since=min(sinces),
            )
            for case_id, (place, reasons, agencies, sinces) in found.items()
        ),
        key=lambda p: (p.since, str(p.case_id)),
    )
