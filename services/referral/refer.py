"""Referral's shell: load the cases and referrals at hand, let services/referral/decide.py route
each grade, apply each answer and escalate each missed deadline, then save at once."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.referral import decide
from services.referral import tables as t
from services.referral.decide import CaseRecord, CaseReferrals, ForeignAnswer, Policy, Referral
from services.referral.provision import Service
from services.referral.routing import RoutingTable
from services.referral.territory import below_the_top, holder_after_move
from shared.contracts.envelope import Envelope
from shared.contracts.events import ReferralResponded
from shared.contracts.vocabulary import (
    OPEN_REFERRAL_STATES,
    OPEN_SERVICE_STATES,
    ReferralState,
    RiskLevel,
    WithdrawalReason,
)
from shared.crypto import FieldCipher
from shared.db.rows import any_of, locked, locked_by, upsert_rows
from shared.db.tables import outbox_table
from shared.metrics import Gauge
from shared.notes import save_notes, written
from shared.territory.transfers import Moves, follow
from shared.unit_of_work import Work

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


async def _load(
    session: AsyncSession, case_ids: Iterable[uuid.UUID], referrals: ColumnElement, *, services: bool = False
) -> dict[uuid.UUID, CaseReferrals]:
    """The cases at hand and their referrals that `referrals` selects (and, with `services`, their
    plans' open services): one query per table, cases locked first, then referrals, then services
    (every writer takes them in this order)."""
    ids = sorted(set(case_ids))
    records = {
        row.case_id: CaseRecord.of_row(row)
        for row in await locked_by(session, t.cases, t.cases.c.case_id, ids)
    }
    rows = await locked(session, t.referrals, order_by=t.referrals.c.id, where=referrals)
    found = [Referral.of_row(row) for row in rows]
    by_case = {case_id: CaseReferrals(case_id, records.get(case_id)) for case_id in ids}
    for referral in found:
        # An answer may name a referral of another case: it is kept under its own case.
        case_id = referral.case_id
        state = by_case.get(case_id) or CaseReferrals(case_id, records.get(case_id))
        by_case[case_id] = state.with_referral(referral)
    if services:
        s = t.services.c
        owed = and_(any_of(s.case_id, ids), s.state.in_(OPEN_SERVICE_STATES))
        for row in await locked(session, t.services, order_by=s.id, where=owed):
            state = by_case[row.case_id]
            by_case[row.case_id] = dataclasses.replace(state, services=(*state.services, Service.of_row(row)))
    return by_case


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
    services: bool = False  # also the cases' open services (a closure withdraws them)

    async def load(self, tx: AsyncSession, events: Sequence[Envelope]) -> dict[uuid.UUID, CaseReferrals]:
        return await _load(
            tx, (event.case_id for event in events), self.referrals(events), services=self.services
        )

    async def save(self, tx: AsyncSession, loaded, states, records) -> None:
        await _save(tx, loaded, states)


async def _save(
    session: AsyncSession,
    loaded: Mapping[uuid.UUID, CaseReferrals],
    states: Mapping[uuid.UUID, CaseReferrals],
) -> None:
    """The referrals made or changed and the cases' records changed, one statement each."""
    before = {r.id: r for state in loaded.values() for r in state.referrals}
    changed = [r for state in states.values() for r in state.referrals if before.get(r.id) != r]
    cases = [
        state.case
        for case_id, state in sorted(states.items())
        if state.case is not None and (case_id not in loaded or loaded[case_id].case != state.case)
    ]
    await upsert_rows(session, t.cases, [case.as_row() for case in cases])
    await upsert_rows(session, t.referrals, [r.as_row() for r in changed])
    services_before = {s.id: s for state in loaded.values() for s in state.services}
    ended = [s for state in states.values() for s in state.services if services_before.get(s.id) != s]
    await upsert_rows(session, t.services, [s.as_row() for s in ended])


async def withdraw(
    work: Work,
    referral_id: uuid.UUID,
    reason: WithdrawalReason,
    *,
    by: str,
    res: Resources,
    note: str | None = None,
) -> None:
    """One referral withdrawn over HTTP by the case's side, with the note the agency reads. Raises
    LookupError or IllegalTransition; withdrawing it again changes nothing and keeps no note."""
    session = work.tx
    found = (
        await session.execute(select(t.referrals.c.case_id).where(t.referrals.c.id == referral_id))
    ).first()
    if found is None:
        raise LookupError(f"no referral {referral_id}")
    loaded = await _load(session, [found.case_id], t.referrals.c.id == referral_id)
    now = res.clock()
    decision = decide.withdraw(loaded[found.case_id], referral_id, reason, by=by, now=now)
    await _save_one(work, loaded, decision)
    if decision.events:
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
        for referral in map(
            Referral.of_row, await locked(session, t.referrals, order_by=r.id, where=open_referrals)
        )
    ]
    await upsert_rows(
        session,
        t.referrals,
        [referral.as_row() for referral in moved],
        updated=("jurisdiction", "holder", "updated_at"),
    )


async def _save_one(work: Work, loaded: dict[uuid.UUID, CaseReferrals], decision: decide.Decision) -> None:
    """A person's action on one case: the referral (and the case's record) it changed, one statement
    each, and its events staged on the action's unit of work (the request's span is current)."""
    state = decision.state
    await _save(work.tx, loaded, {**loaded, state.case_id: state})
    work.uow.stage(decision.events, case_id=state.case_id, cause=None)


async def respond(work: Work, answer: ReferralResponded, res: Resources, *, note: str | None = None) -> None:
    """One agency's answer over HTTP, decided like those on Kafka, with the officer's note (kept only
    when the answer changed the referral: a repeated one keeps none). Raises as the consumer's
    handler does."""
    session = work.tx
    loaded = await _load(session, [answer.case_id], t.referrals.c.id == answer.referral_id)
    decision = decide.answer(loaded[answer.case_id], answer, res.clock())
    await _save_one(work, loaded, decision)
    if decision.events:
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


async def escalate_overdue(work: Work, res: Resources, *, limit: int = 200) -> int:
    """Every referral still unacknowledged past its deadline goes one level up the tree and
    gets a new deadline there, its event staged on the sweep's unit of work. Returns how many were
    escalated.

    Durable and exact: the new holders, deadlines and the events commit together, so a restart
    neither loses an escalation nor repeats one.
    """
    session = work.tx
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
    for _, event in escalations:
        work.uow.stage([event], case_id=event.case_id, cause=None)
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
