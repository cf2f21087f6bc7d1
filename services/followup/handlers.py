"""Follow-up's handler tables, one a consumer group (a grade never waits behind the referrals'
changes or the closures): each event answered by services/followup/decide.py, in batches through
the one unit of work (shared/unit_of_work.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from services.followup import decide
from services.followup.visits import OUTBOX, PRODUCER, PlanStore, Resources
from shared.contracts.envelope import Envelope
from shared.contracts.events import CaseAssessed, CaseClosed, CaseReopened, ReferralStatusChanged
from shared.unit_of_work import Decision, Handlers, Stage


def plan_event(plan: decide.Plan | None, event: Envelope, res: Resources, now: datetime) -> Decision:
    decision = decide.decide(plan, event.payload, res.policy, now)
    return Decision(decision.plan, decision.events)


def graded(plan: decide.Plan | None, event: Envelope, res: Resources, now: datetime) -> Decision:
    decision = decide.scheduled(plan, event.payload, res.policy, now, new_id=res.new_id)
    return Decision(decision.plan, decision.events)


def referral_changed(plan: decide.Plan | None, event: Envelope, res: Resources, now: datetime) -> Decision:
    """Also kept: the referral's latest state (a case is not closed while one is open)."""
    decision = decide.decide(plan, event.payload, res.policy, now)
    return Decision(decision.plan, decision.events, records=(event.payload,))


# A (re-)graded case gets its plan at its grade's cadence.
GRADES = Handlers({CaseAssessed: graded})
# The referrals' changes: a case's plan waits while one is open.
REFERRALS = Handlers({ReferralStatusChanged: referral_changed})
# A closed case is visited no more; reopened by a person, it is again.
CLOSURES = Handlers({CaseClosed: plan_event, CaseReopened: plan_event})


def stage(handlers: Handlers, resources: Callable[[], Resources]) -> Stage:
    return Stage.of_service(PRODUCER, OUTBOX, handlers, PlanStore(), resources)


async def on_followup_events(tx, items: Sequence[tuple[Envelope, object]], res: Resources) -> None:
    """A batch of any of follow-up's events, in offset order, in the caller's transaction."""
    every = Handlers({**GRADES.rules, **REFERRALS.rules, **CLOSURES.rules})
    await stage(every, lambda: res)(tx, items)
