"""Referral's handler tables: a grade routes the case to the agencies that must act, an agency's
answer moves its referral on, a closure withdraws what a closed case holds open and a reopening (or
an undone link) refers the case again; each answered by services/referral/decide.py, in batches
through the one unit of work (shared/unit_of_work.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from services.referral import decide
from services.referral.decide import CaseReferrals
from services.referral.refer import OUTBOX, PRODUCER, ReferralStore, Resources, answered, open_of_cases
from shared.contracts.envelope import Envelope
from shared.contracts.events import (
    CaseAssessed,
    CaseClosed,
    CaseReopened,
    ChildLinked,
    ChildLinkUndone,
    ReferralResponded,
)
from shared.unit_of_work import Decision, Handlers, Stage


def _of(decision: decide.Decision) -> Decision:
    return Decision(decision.state, decision.events)


def graded(state: CaseReferrals, event: Envelope, res: Resources, now: datetime) -> Decision:
    return _of(decide.route(state, event.payload, res.policy, now))


def responded(state: CaseReferrals, event: Envelope, res: Resources, now: datetime) -> Decision:
    return _of(decide.answer(state, event.payload, now))


def closed(state: CaseReferrals, event: Envelope, res: Resources, now: datetime) -> Decision:
    return _of(decide.case_closed(state, event.payload, now))


def reopened(state: CaseReferrals, event: Envelope, res: Resources, now: datetime) -> Decision:
    return _of(decide.reopened(state, event.payload, res.policy, now))


def link_undone(state: CaseReferrals, event: Envelope, res: Resources, now: datetime) -> Decision:
    return _of(decide.link_undone(state, event.payload, res.policy, now))


def linked(state: CaseReferrals, event: Envelope, res: Resources, now: datetime) -> Decision:
    """A link itself changes nothing here: the closure of the case merged away does."""
    return Decision(state)


GRADES = Handlers({CaseAssessed: graded})
ANSWERS = Handlers({ReferralResponded: responded})
CLOSURES = Handlers(
    {CaseClosed: closed, CaseReopened: reopened, ChildLinked: linked, ChildLinkUndone: link_undone}
)


def stage(handlers: Handlers, resources: Callable[[], Resources]) -> Stage:
    """Answers load the referrals they name (perhaps another case's: decide refuses it); the others,
    the open referrals of their cases."""
    store = ReferralStore(answered if handlers is ANSWERS else open_of_cases, services=handlers is CLOSURES)
    return Stage.of_service(PRODUCER, OUTBOX, handlers, store, resources)


async def on_grades(tx, items: Sequence[tuple[Envelope, object]], res: Resources) -> None:
    await stage(GRADES, lambda: res)(tx, items)


async def on_answers(tx, items: Sequence[tuple[Envelope, object]], res: Resources) -> None:
    await stage(ANSWERS, lambda: res)(tx, items)


async def on_closures(tx, items: Sequence[tuple[Envelope, object]], res: Resources) -> None:
    await stage(CLOSURES, lambda: res)(tx, items)
