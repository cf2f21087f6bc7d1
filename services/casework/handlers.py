"""Casework's handler table: every event of the case's other services that changes the case as a
whole, each answered by services/casework/decide.py (merged, owned if it was not, derived), and
the one unit of work (shared/unit_of_work.py) that runs them in batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from services.casework import decide
from services.casework.cases import OUTBOX, PRODUCER, CaseStore, Resources
from shared.contracts.envelope import Envelope
from shared.unit_of_work import Decision, Handlers, Stage


def case_event(state: decide.CaseState | None, event: Envelope, res: Resources, now: datetime) -> Decision:
    """Decided at the moment the event happened, not when it arrived."""
    decision = decide.decide(state, event.payload, res.policy, event.occurred_at)
    return Decision(decision.state, decision.events)


# What casework learns each case from: its report and grade, the referrals it waits on, its visits,
# follow-up's closure rule, the links that merge a case into another (and their undoing).
HANDLERS = Handlers(dict.fromkeys(decide.EVENT_RULES, case_event))


def case_events(resources: Callable[[], Resources]) -> Stage:
    return Stage.of_service(PRODUCER, OUTBOX, HANDLERS, CaseStore(), resources)


async def on_case_events(tx, items: Sequence[tuple[Envelope, object]], res: Resources) -> None:
    """A batch of the case's other services' events, in offset order, in the caller's transaction."""
    await case_events(lambda: res)(tx, items)
