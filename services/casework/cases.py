"""Casework's shell: load a batch's cases and their referrals, let services/casework/decide.py
merge each event in turn and own each new case, then save the cases, the referrals and the
events at once; and each person's action (an assignment, the review, a request and its decision,
a reopening), in one transaction with its note, its events staged on the route's unit of work
(shared/unit_of_work.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from services.casework import tables as t
from services.casework.decide import (
    Approval,
    CaseFile,
    CaseState,
    DirectoryEntry,
    NotYours,
    ReferralFact,
    ServiceFact,
    approval_decided,
    assigned,
    referrals_by_case,
    reopening,
    requested,
    reviewed,
)
from services.casework.policy import CaseworkPolicy
from shared.contracts.envelope import Envelope
from shared.crypto import FieldCipher
from shared.db.engine import Transaction
from shared.db.rows import any_of, locked_by, upsert_rows
from shared.db.tables import outbox_table
from shared.notes import Note, save_notes, written
from shared.territory.registry import TerritoryRegistry
from shared.unit_of_work import Work

__all__ = [
    "OUTBOX",
    "ApprovalNotFound",
    "CaseNotFound",
    "Resources",
    "approvals_of",
    "assign",
    "decide_approval",
    "load_case",
    "reopen",
    "request_approval",
    "review",
]

PRODUCER = "casework"
OUTBOX = outbox_table(t.metadata)


@dataclass(frozen=True)
class Resources:
    policy: CaseworkPolicy
    territory: TerritoryRegistry  # where a case may be transferred to
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    new_id: Callable[[], uuid.UUID] = uuid.uuid4  # each approval request's id
    cipher: FieldCipher | None = None  # seals the notes people write over HTTP (the consumers write none)


class CaseNotFound(LookupError):
    pass


class ApprovalNotFound(LookupError):
    pass


async def load_states(session: Transaction, case_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, CaseState]:
    """The cases at hand and their referrals, the cases locked in case order (so two transactions
    that share cases wait for each other instead of deadlocking), one query a table."""
    ids = sorted(set(case_ids))
    if not ids:
        return {}
    cases = {
        row.case_id: CaseFile.of_row(row) for row in await locked_by(session, t.cases, t.cases.c.case_id, ids)
    }
    r, s = t.referrals.c, t.services.c
    facts = referrals_by_case(
        ReferralFact.of_row(row)
        for row in await session.execute(select(t.referrals).where(any_of(r.case_id, ids)))
    )
    services: dict[uuid.UUID, dict[uuid.UUID, ServiceFact]] = {}
    for row in await session.execute(select(t.services).where(any_of(s.case_id, ids))):
        services.setdefault(row.case_id, {})[row.service_id] = ServiceFact.of_row(row)
    return {
        case_id: CaseState(cases.get(case_id), facts.get(case_id, {}), services.get(case_id, {}))
        for case_id in ids
    }


async def save_states(
    session: Transaction, loaded: dict[uuid.UUID, CaseState], states: dict[uuid.UUID, CaseState]
) -> None:
    """Write the cases, referrals and services that changed, one statement a table."""
    cases = [
        s.case
        for case_id, s in sorted(states.items())
        if s.case is not None and s.case != loaded[case_id].case
    ]
    referrals = [
        fact
        for case_id, s in sorted(states.items())
        for referral_id, fact in sorted(s.referrals.items())
        if loaded[case_id].referrals.get(referral_id) != fact
    ]
    await upsert_rows(session, t.cases, [case.as_row() | {"updated_at": datetime.now(UTC)} for case in cases])
    await upsert_rows(session, t.referrals, [fact.as_row() for fact in referrals])
    services = [
        fact
        for case_id, s in sorted(states.items())
        for service_id, fact in sorted(s.services.items())
        if loaded[case_id].services.get(service_id) != fact
    ]
    await upsert_rows(session, t.services, [fact.as_row() for fact in services])


class CaseStore:
    """The cases at hand and their referrals, for shared/unit_of_work.py."""

    async def load(self, tx: Transaction, events: Sequence[Envelope]) -> dict[uuid.UUID, CaseState]:
        return await load_states(tx, (event.case_id for event in events))

    async def save(self, tx: Transaction, loaded, states, records) -> None:
        await save_states(tx, loaded, states)


def _listed(case: CaseFile | None, visible: Callable[[str], bool]) -> bool:
    """A case is answered only once its territory is known, and only to a caller who may see it."""
    return case is not None and case.jurisdiction is not None and visible(case.jurisdiction)


async def load_case(session: Transaction, case_id: uuid.UUID, visible: Callable[[str], bool]) -> CaseFile:
    """One listed case the caller may see, else CaseNotFound (a case outside the caller's
    territory is answered as one that does not exist)."""
    row = (await session.execute(select(t.cases).where(t.cases.c.case_id == case_id))).first()
    case = CaseFile.of_row(row) if row is not None else None
    if not _listed(case, visible):
        raise CaseNotFound(f"no case {case_id} in your territory")
    return case


async def _visible_state(
    session: Transaction, case_id: uuid.UUID, visible: Callable[[str], bool]
) -> CaseState:
    """The case (locked) and its referrals, if the caller may see it; else CaseNotFound."""
    state = (await load_states(session, [case_id]))[case_id]
    if not _listed(state.case, visible):
        raise CaseNotFound(f"no case {case_id} in your territory")
    return state


async def _commit(
    work: Work,
    before: CaseState,
    after: CaseState,
    events,
    *,
    res: Resources,
    note: Note | None = None,
) -> None:
    """The case and the note of the action that changed it, in the action's transaction, and its
    events staged on the action's unit of work."""
    case_id = before.case.case_id
    await save_states(work.tx, {case_id: before}, {case_id: after})
    work.uow.stage(events, case_id=case_id, cause=None)
    await save_notes(work.tx, t.notes, res.cipher, [note])


async def assign(
    work: Work,
    case_id: uuid.UUID,
    caseworker: str,
    *,
    supervisor: str,
    reason: str | None,
    visible: Callable[[str], bool],
    res: Resources,
    entry: DirectoryEntry | None,
    note: str | None = None,
) -> CaseFile:
    """A supervisor of the case's territory names its owner, a caseworker the directory vouches for
    (`entry`); the case, `case.assigned` and the supervisor's note commit together (naming the owner
    again changes nothing and keeps no note)."""
    session = work.tx
    state = await _visible_state(session, case_id, visible)
    now = res.clock()
    decision = assigned(state.case, caseworker, supervisor=supervisor, reason=reason, now=now, entry=entry)
    kept = written(
        note if decision.events else None, case_id=case_id, action="assignment", by=supervisor, at=now
    )
    await _commit(work, state, decision.state, decision.events, res=res, note=kept)
    return decision.state.case


async def review(
    work: Work,
    case_id: uuid.UUID,
    decision: str,
    reason: str | None,
    *,
    by: str,
    supervisor: bool,
    visible: Callable[[str], bool],
    res: Resources,
    note: str | None = None,
) -> CaseFile:
    """The written review, with its events (and the closure of a case screened out) and the reviewer's
    note, in one transaction."""
    session = work.tx
    state = await _visible_state(session, case_id, visible)
    now = res.clock()
    outcome = reviewed(state, decision, reason, by=by, supervisor=supervisor, now=now)
    await _commit(
        work,
        state,
        outcome.state,
        outcome.events,
        res=res,
        note=written(note, case_id=case_id, action="review", by=by, at=now),
    )
    return outcome.state.case


async def reopen(
    work: Work,
    case_id: uuid.UUID,
    reason: str | None,
    *,
    by: str,
    supervisor: bool,
    visible: Callable[[str], bool],
    res: Resources,
    note: str | None = None,
) -> CaseFile:
    """A person reopens a closed case; the case, `case.reopened` and the person's note in one transaction."""
    session = work.tx
    state = await _visible_state(session, case_id, visible)
    now = res.clock()
    pending, into = await approvals_of(session, case_id), await merged_into(session, state.case)
    outcome = reopening(
        state, reason, by=by, supervisor=supervisor, pending=pending, policy=res.policy, now=now, into=into
    )
    await _commit(
        work,
        state,
        outcome.state,
        outcome.events,
        res=res,
        note=written(note, case_id=case_id, action="reopening", by=by, at=now),
    )
    return outcome.state.case


async def merged_into(session: Transaction, case: CaseFile | None) -> CaseFile | None:
    """The case a link merged `case` into — following the links made after it, to the case that holds the
    child's reports now — as casework knows it; None when no link stands."""
    into, seen = None, set()
    following = case.merged_into if case else None
    while following is not None and following not in seen:
        seen.add(following)
        row = (await session.execute(select(t.cases).where(t.cases.c.case_id == following))).first()
        if row is None:
            break  # merged into a case casework has not heard of yet
        into = CaseFile.of_row(row)
        following = into.merged_into
    return into


def _anywhere(jurisdiction: str) -> bool:
    return True


async def approvals_of(session: Transaction, case_id: uuid.UUID) -> list[Approval]:
    rows = await session.execute(select(t.approvals).where(t.approvals.c.case_id == case_id))
    return [Approval.of_row(row) for row in rows]


async def request_approval(
    work: Work,
    case_id: uuid.UUID,
    kind: str,
    reason: str,
    *,
    by: str,
    visible: Callable[[str], bool],
    res: Resources,
    supervisor: bool = False,
    to_jurisdiction: str | None = None,
    note: str | None = None,
) -> Approval:
    session = work.tx
    state = await _visible_state(session, case_id, visible)
    now = res.clock()
    approval, outcome = requested(
        state,
        kind,
        reason,
        by=by,
        pending=await approvals_of(session, case_id),
        policy=res.policy,
        now=now,
        supervisor=supervisor,
        to_jurisdiction=to_jurisdiction,
        into=await merged_into(session, state.case),
    )
    await upsert_rows(session, t.approvals, [approval.as_row()])
    await _commit(
        work,
        state,
        outcome.state,
        outcome.events,
        res=res,
        note=written(
            note, case_id=case_id, action="approval_request", by=by, at=now, about=approval.approval_id
        ),
    )
    return approval


async def decide_approval(
    work: Work,
    approval_id: uuid.UUID,
    approved: bool,
    reason: str | None,
    *,
    by: str,
    visible: Callable[[str], bool],
    res: Resources,
    note: str | None = None,
) -> tuple[Approval, CaseFile]:
    """A supervisor of the case's territory approves or rejects — a transfer, a supervisor of the
    territory it is to go to; the request, the case, their events and the supervisor's note commit
    together."""
    session = work.tx
    row = (await session.execute(select(t.approvals).where(t.approvals.c.approval_id == approval_id))).first()
    if row is None:
        raise ApprovalNotFound(f"no request {approval_id} in your territory")
    if row.kind == "transfer":
        if not visible(row.to_jurisdiction):
            if visible(row.jurisdiction):
                raise NotYours(
                    "a transfer is accepted or declined by a supervisor of the territory it goes to"
                )
            raise ApprovalNotFound(f"no request {approval_id} in your territory")
        visible = _anywhere  # the receiving supervisor decides on a case not theirs yet
    try:
        state = await _visible_state(session, row.case_id, visible)
    except CaseNotFound:
        raise ApprovalNotFound(f"no request {approval_id} in your territory") from None
    # Read again under the case's lock: two supervisors deciding at once see each other's decision.
    approval = next(a for a in await approvals_of(session, row.case_id) if a.approval_id == approval_id)
    now = res.clock()
    approval, outcome = approval_decided(
        state,
        approval,
        approved,
        reason,
        by=by,
        policy=res.policy,
        now=now,
        into=await merged_into(session, state.case),
    )
    await upsert_rows(session, t.approvals, [approval.as_row()])
    await _commit(
        work,
        state,
        outcome.state,
        outcome.events,
        res=res,
        note=written(note, case_id=row.case_id, action="approval_decision", by=by, at=now, about=approval_id),
    )
    return approval, outcome.state.case
