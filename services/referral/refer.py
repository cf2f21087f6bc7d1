"""Referral's shell: load the cases and referrals at hand, let services/referral/decide.py route
each grade, apply each answer and escalate each missed deadline, then save at once."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.referral import decide
from services.referral import tables as t
from services.referral.decide import CaseRecord, CaseReferrals, ForeignAnswer, Policy, Referral
from services.referral.routing import RoutingTable
from services.referral.territory import below_the_top, holder_after_move
from shared.contracts.envelope import Envelope, new_envelope
from shared.contracts.events import ReferralResponded
from shared.contracts.vocabulary import OPEN_REFERRAL_STATES, ReferralState, RiskLevel, WithdrawalReason
from shared.crypto import FieldCipher
from shared.db.rows import any_of, upsert_rows
from shared.db.tables import outbox_table
from shared.messaging.consumer import Delivery
from shared.messaging.outbox import add_events
from shared.metrics import Gauge
from shared.notes import save_notes, written
from shared.telemetry import current_trace_headers, event_span
from shared.territory.transfers import Moves, follow

# Events as the consumer hands them over, in offset order.
Deliveries = Sequence[tuple[Envelope, Delivery]]
# An answer, the event that carried it and where from (neither over HTTP).
Answer = tuple[ReferralResponded, Envelope | None, Delivery | None]

__all__ = [
    "ForeignAnswer",
    "Resources",
    "escalate_overdue",
    "move_cases",
    "respond",
    "waiting_gauges",
    "withdraw",
]

PRODUCER = "referral"
OUTBOX = outbox_table(t.metadata)


@dataclass(frozen=True)
class Resources:
    routes: RoutingTable
    public_url: str  # where agencies fetch a referral's details with their own credentials
    intake_url: str = ""  # where they fetch the child's details (intake), with the same credentials
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    new_id: Callable[[], uuid.UUID] = uuid.uuid4  # each new referral's id
    cipher: FieldCipher | None = None  # seals the notes people write over HTTP (answers on Kafka carry none)

    @property
    def policy(self) -> Policy:
        return Policy(routes=self.routes, public_url=self.public_url, new_id=self.new_id)


@dataclass
class _Batch:
    """The cases of one transaction as loaded and as decided so far, and the events staged."""

    cases: dict[uuid.UUID, CaseReferrals]
    loaded: dict[uuid.UUID, Referral]
    envelopes: list[Envelope] = field(default_factory=list)
    traces: list[dict[str, str]] = field(default_factory=list)

    def apply(self, decision: decide.Decision, *, cause: Envelope | None) -> None:
        self.cases[decision.state.case_id] = decision.state
        trace = current_trace_headers()  # inside the event's own span: its report's trace
        case_id = decision.state.case_id
        for payload in decision.events:
            self.envelopes.append(new_envelope(payload, case_id=case_id, producer=PRODUCER, causation=cause))
            self.traces.append(trace)

    def changed_referrals(self) -> list[Referral]:
        return [r for state in self.cases.values() for r in state.referrals if self.loaded.get(r.id) != r]


async def _locked(session: AsyncSession, table: Table, key: ColumnElement, where: ColumnElement) -> list[Any]:
    """Rows locked in key order, so two transactions that share rows wait for each other
    instead of deadlocking."""
    rows = await session.execute(select(table).where(where).order_by(key).with_for_update())
    return rows.all()


async def _load(session: AsyncSession, case_ids: Iterable[uuid.UUID], referrals: ColumnElement) -> _Batch:
    """The cases at hand and their referrals that `referrals` selects: one query per table,
    cases locked first, then referrals (every writer takes them in this order)."""
    ids = sorted(set(case_ids))
    cases = await _locked(session, t.cases, t.cases.c.case_id, any_of(t.cases.c.case_id, ids))
    records = {row.case_id: CaseRecord.of_row(row) for row in cases}
    rows = await _locked(session, t.referrals, t.referrals.c.id, referrals)
    found = [Referral.of_row(row) for row in rows]
    by_case = {case_id: CaseReferrals(case_id, records.get(case_id)) for case_id in ids}
    for referral in found:
        # An answer may name a referral of another case: it is kept under its own case.
        case_id = referral.case_id
        state = by_case.get(case_id) or CaseReferrals(case_id, records.get(case_id))
        by_case[case_id] = state.with_referral(referral)
    return _Batch(cases=by_case, loaded={r.id: r for r in found})


async def _save(session: AsyncSession, batch: _Batch, cases: Iterable[CaseRecord]) -> None:
    """Every referral made or changed, the cases given and the events, one statement each."""
    await upsert_rows(session, t.cases, [case.as_row() for case in cases])
    await upsert_rows(session, t.referrals, [r.as_row() for r in batch.changed_referrals()])
    await add_events(session, OUTBOX, *batch.envelopes, traces=batch.traces)


def _open_of(case_ids: Iterable[uuid.UUID]) -> ColumnElement:
    referrals = t.referrals.c
    return and_(any_of(referrals.case_id, case_ids), referrals.state.in_(OPEN_REFERRAL_STATES))


def open_of_cases(events: Sequence[Envelope]) -> ColumnElement:
    """The referrals a grade, a closure or a reopening works on: its case's open ones."""
    return _open_of({event.case_id for event in events})


def answered(events: Sequence[Envelope]) -> ColumnElement:
    """The referrals answers name (perhaps another case's: decide refuses such an answer)."""
    return any_of(t.referrals.c.id, {event.payload.referral_id for event in events})


@dataclass(frozen=True)
class ReferralStore:
    """The cases at hand and the referrals `referrals` selects, for shared/unit_of_work.py."""

    referrals: Callable[[Sequence[Envelope]], ColumnElement]

    async def load(self, tx: AsyncSession, events: Sequence[Envelope]) -> dict[uuid.UUID, CaseReferrals]:
        return (await _load(tx, (event.case_id for event in events), self.referrals(events))).cases

    async def save(self, tx: AsyncSession, loaded, states, records) -> None:
        """The referrals made or changed and the cases' records changed, one statement each."""
        before = {r.id: r for state in loaded.values() for r in state.referrals}
        changed = [r for state in states.values() for r in state.referrals if before.get(r.id) != r]
        cases = [
            state.case
            for case_id, state in sorted(states.items())
            if state.case is not None and (case_id not in loaded or loaded[case_id].case != state.case)
        ]
        await upsert_rows(tx, t.cases, [case.as_row() for case in cases])
        await upsert_rows(tx, t.referrals, [r.as_row() for r in changed])


async def withdraw(
    session: AsyncSession,
    referral_id: uuid.UUID,
    reason: WithdrawalReason,
    *,
    by: str,
    res: Resources,
    note: str | None = None,
) -> None:
    """One referral withdrawn over HTTP by the case's side, with the note the agency reads. Raises
    LookupError or IllegalTransition; withdrawing it again changes nothing and keeps no note."""
    found = (
        await session.execute(select(t.referrals.c.case_id).where(t.referrals.c.id == referral_id))
    ).first()
    if found is None:
        raise LookupError(f"no referral {referral_id}")
    batch = await _load(session, [found.case_id], t.referrals.c.id == referral_id)
    now = res.clock()
    batch.apply(decide.withdraw(batch.cases[found.case_id], referral_id, reason, by=by, now=now), cause=None)
    await _save(session, batch, [])
    if batch.envelopes:
        await save_notes(
            session,
            t.notes,
            res.cipher,
            [written(note, case_id=found.case_id, action="withdrawal", by=by, at=now, about=referral_id)],
        )


async def move_cases(session: AsyncSession, moves: Moves) -> None:
    """Cases moved to another territory: referral's record of each follows, and so does each of
    its open referrals (its territory, and who answers for it now); those ended stay where they
    were answered."""
    await follow(session, t.cases, moves)
    r = t.referrals.c
    open_referrals = and_(any_of(r.case_id, moves), r.state.in_(OPEN_REFERRAL_STATES))
    now = datetime.now(UTC)
    moved = [
        dataclasses.replace(
            referral,
            jurisdiction=moves[referral.case_id],
            updated_at=now,
            holder=holder_after_move(referral.holder, moves[referral.case_id]),
        )
        for referral in map(Referral.of_row, await _locked(session, t.referrals, r.id, open_referrals))
    ]
    await upsert_rows(
        session,
        t.referrals,
        [referral.as_row() for referral in moved],
        updated=("jurisdiction", "holder", "updated_at"),
    )


async def _answer_all(session: AsyncSession, answers: Sequence[Answer], res: Resources) -> _Batch:
    batch = await _load(
        session,
        (a.case_id for a, _, _ in answers),
        any_of(t.referrals.c.id, {a.referral_id for a, _, _ in answers}),
    )
    before = {case_id: state.case for case_id, state in batch.cases.items()}
    now = res.clock()
    for response, cause, delivery in answers:
        # Over HTTP there is no delivery: the request's own span is current.
        with event_span(delivery) if delivery else nullcontext():
            batch.apply(decide.answer(batch.cases[response.case_id], response, now), cause=cause)
    changed = [state.case for case_id, state in sorted(batch.cases.items()) if state.case != before[case_id]]
    await _save(session, batch, changed)
    return batch


async def respond(
    session: AsyncSession, answer: ReferralResponded, res: Resources, *, note: str | None = None
) -> None:
    """One agency's answer over HTTP, decided like those on Kafka, with the officer's note (kept only
    when the answer changed the referral: a repeated one keeps none). Raises as on_answers does."""
    batch = await _answer_all(session, [(answer, None, None)], res)
    if batch.envelopes:
        await save_notes(
            session,
            t.notes,
            res.cipher,
            [
                written(
                    note,
                    case_id=answer.case_id,
                    action=answer.action,
                    by=answer.responder_ref,
                    at=answer.responded_at,
                    about=answer.referral_id,
                )
            ],
        )


async def escalate_overdue(session: AsyncSession, res: Resources, *, limit: int = 200) -> int:
    """Every referral still unacknowledged past its deadline goes one level up the tree and
    gets a new deadline there. Returns how many were escalated.

    Durable and exact: the new holders, deadlines and the events commit together, so a restart
    neither loses an escalation nor repeats one.
    """
    now = res.clock()
    # Referrals already at the city stay overdue on its list; leaving them out keeps them
    # from filling every batch and starving the ones that can still move up.
    rows = (
        await session.execute(
            select(t.referrals)
            .where(
                and_(
                    t.referrals.c.state == ReferralState.created.value,
                    t.referrals.c.ack_due_at <= now,
                    below_the_top(t.referrals.c.holder),
                )
            )
            .order_by(t.referrals.c.ack_due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    escalations = [decide.escalate(Referral.of_row(row), res.routes, now) for row in rows]
    escalations = [e for e in escalations if e is not None]
    await upsert_rows(session, t.referrals, [referral.as_row() for referral, _ in escalations])
    envelopes = [new_envelope(event, case_id=event.case_id, producer=PRODUCER) for _, event in escalations]
    await add_events(session, OUTBOX, *envelopes)
    return len(escalations)


async def waiting_gauges(session: AsyncSession, res: Resources) -> list[Gauge]:
    """Referrals not yet acknowledged, and those past their deadline, by grade: a red one
    overdue is the alert an operator must not miss."""
    r = t.referrals.c
    overdue = (r.ack_due_at <= res.clock()).label("overdue")
    rows = (
        await session.execute(
            select(r.risk_level, overdue, func.count())
            .where(r.state == ReferralState.created.value)
            .group_by(r.risk_level, overdue)
        )
    ).all()
    counts = {(level, late): n for level, late, n in rows}
    gauges = []
    for level in RiskLevel:
        waiting = counts.get((level.value, False), 0) + counts.get((level.value, True), 0)
        gauges += [
            Gauge(
                "cpnet_referrals_unacknowledged",
                "Referrals no agency has acknowledged yet",
                waiting,
                {"risk_level": level.value},
            ),
            Gauge(
                "cpnet_referrals_overdue",
                "Referrals past their acknowledgement deadline",
                counts.get((level.value, True), 0),
                {"risk_level": level.value},
            ),
        ]
    return gauges
