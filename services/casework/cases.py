"""Casework's shell: load a batch's cases and their referrals, let services/casework/decide.py
merge each event in turn and own each new case, then save the cases, the referrals and the
events at once; and a supervisor's assignment, in one transaction with its event."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from services.casework import tables as t
from services.casework.decide import (
    CaseFile,
    CaseState,
    ReferralFact,
    assigned,
    decide,
    referrals_by_case,
)
from services.casework.policy import CaseworkPolicy
from shared.contracts.envelope import Envelope, new_envelope
from shared.db.engine import Transaction
from shared.db.rows import any_of, upsert_rows
from shared.db.tables import outbox_table
from shared.messaging.consumer import Delivery
from shared.messaging.outbox import add_events
from shared.telemetry import current_trace_headers, event_span

__all__ = ["OUTBOX", "CaseNotFound", "Resources", "assign", "load_case", "on_case_events"]

PRODUCER = "casework"
OUTBOX = outbox_table(t.metadata)


@dataclass(frozen=True)
class Resources:
    policy: CaseworkPolicy
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


class CaseNotFound(LookupError):
    pass


async def load_states(session: Transaction, case_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, CaseState]:
    """The cases at hand and their referrals, the cases locked in case order (so two transactions
    that share cases wait for each other instead of deadlocking), one query a table."""
    ids = sorted(set(case_ids))
    if not ids:
        return {}
    c = t.cases.c
    rows = await session.execute(select(t.cases).where(any_of(c.case_id, ids)).order_by(c.case_id)
                                 .with_for_update())
    cases = {row.case_id: CaseFile.of_row(row) for row in rows}
    r = t.referrals.c
    facts = referrals_by_case(ReferralFact(**row._mapping) for row in
                              await session.execute(select(t.referrals).where(any_of(r.case_id, ids))))
    return {case_id: CaseState(cases.get(case_id), facts.get(case_id, {})) for case_id in ids}


async def save_states(session: Transaction, loaded: dict[uuid.UUID, CaseState],
                      states: dict[uuid.UUID, CaseState]) -> None:
    """Write the cases and referrals that changed, one statement a table."""
    cases = [s.case for case_id, s in sorted(states.items())
             if s.case is not None and s.case != loaded[case_id].case]
    referrals = [fact for case_id, s in sorted(states.items()) for referral_id, fact in sorted(s.referrals.items())
                 if loaded[case_id].referrals.get(referral_id) != fact]
    await upsert_rows(session, t.cases, [case.as_row() | {"updated_at": datetime.now(UTC)} for case in cases])
    await upsert_rows(session, t.referrals, [fact.as_row() for fact in referrals])


async def on_case_events(session: Transaction, items: Sequence[tuple[Envelope, Delivery]], res: Resources) -> None:
    """A batch of the case's other services' events, in offset order: each case loaded once,
    each event decided in turn on what the one before left, inside its own trace (the report's),
    then saved at once."""
    loaded = await load_states(session, (event.case_id for event, _ in items))
    states = dict(loaded)
    envelopes, traces = [], []
    for event, delivery in items:
        with event_span(delivery):
            decision = decide(states[event.case_id], event.payload, res.policy, event.occurred_at)
            trace = current_trace_headers()
        states[event.case_id] = decision.state
        for payload in decision.events:
            envelopes.append(new_envelope(payload, case_id=event.case_id, producer=PRODUCER, causation=event))
            traces.append(trace)
    await save_states(session, loaded, states)
    await add_events(session, OUTBOX, *envelopes, traces=traces)


async def load_case(session: Transaction, case_id: uuid.UUID, visible: Callable[[str], bool], *,
                    lock: bool = False) -> CaseFile:
    """One listed case the caller may see, else CaseNotFound (a case outside the caller's
    territory is answered as one that does not exist)."""
    query = select(t.cases).where(t.cases.c.case_id == case_id)
    row = (await session.execute(query.with_for_update() if lock else query)).first()
    if row is None or row.jurisdiction is None or not visible(row.jurisdiction):
        raise CaseNotFound(f"no case {case_id} in your territory")
    return CaseFile.of_row(row)


async def assign(session: Transaction, case_id: uuid.UUID, caseworker: str, *, supervisor: str,
                 reason: str | None, visible: Callable[[str], bool], res: Resources) -> CaseFile:
    """A supervisor of the case's territory names its owner; the case and `case.assigned` commit
    together."""
    case = await load_case(session, case_id, visible, lock=True)
    decision = assigned(case, caseworker, supervisor=supervisor, reason=reason, now=res.clock())
    if decision.events:
        await save_states(session, {case_id: CaseState(case)}, {case_id: decision.state})
        await add_events(session, OUTBOX, *(new_envelope(e, case_id=case_id, producer=PRODUCER)
                                            for e in decision.events))
    return decision.state.case
