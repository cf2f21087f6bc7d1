"""Identifying a child nobody could name, the shell: load and lock the children and cases a link (or
its undo) is about, let services/intake/identification.py decide, then write the children, the moved
reports, the link's record, its `child.linked` (or `child.link_undone`), the undo's note and the access
record — in the caller's one transaction. Locks are taken as reports take them: digests, then children,
then cases. And a case's links, as its records list them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import insert, or_, select, update

from services.intake import tables as t
from services.intake.decide import Subject
from services.intake.disclosure import IDENTITY_FIELDS
from services.intake.identification import (
    CaseRecord,
    ChildChange,
    ChildRecord,
    Decided,
    Link,
    identified,
    later_links,
    linked,
    undoable,
    undone,
)
from services.intake.reports import IntakeResources, lock_digests, match_digests
from services.intake.search import registered
from shared.access import record_access
from shared.auth import Principal
from shared.contracts.vocabulary import (
    AccessPurpose,
    CaseStatus,
    IdentificationReason,
    LinkUndoReason,
    PersonalRecord,
)
from shared.db.engine import Transaction
from shared.db.rows import any_of, locked_by, row_of
from shared.notes import save_notes, written
from shared.unit_of_work import UnitOfWork, Work

# Identifying a child puts its record right: the access ledger says so with every link and undo.
PURPOSE = AccessPurpose.record_correction
# The action an undo's note is written with (in intake's notes table, about the link).
UNDO_NOTE = "link_undone"


class ChildNotFound(LookupError):
    """No such child (or link) in the caller's territory; `field` names what the request gave."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field}: no such {'link' if field == 'link_id' else 'child'} in your territory")
        self.field = field


@dataclass(frozen=True)
class Outside:
    """The record exists but lies outside the caller's territory: the refusal is on the ledger once
    the transaction commits, and the answer is that of a record that does not exist."""

    error: ChildNotFound


@dataclass(frozen=True)
class Outcome:
    """What a link or an undo decided, without personal data."""

    link: Link
    case_number: str  # of the case that remains
    provisional: bool  # whether the child that remains is still provisional (two provisional children)
    access_id: uuid.UUID


async def identify(
    work: Work,
    principal: Principal,
    provisional_ref: uuid.UUID,
    *,
    reason: IdentificationReason,
    child_ref: uuid.UUID | None = None,
    given: Mapping[str, Any] | None = None,
    keys: IntakeResources,
    now: datetime | None = None,
) -> Outcome | Outside:
    """Link the provisional child to `child_ref`, or give it the identity `given` (the contract's
    Child fields, as JSON). Raises ChildNotFound, and identification's refusals."""
    session = work.tx
    now = now or datetime.now(UTC)
    ids = [provisional_ref, *([child_ref] if child_ref is not None and child_ref != provisional_ref else [])]
    rows = await session.execute(select(t.children).where(any_of(t.children.c.id, ids)))
    found = {row.id: row for row in rows}
    for field, child_id in (("provisional_ref", provisional_ref), ("child_ref", child_ref)):
        if child_id is not None and child_id not in found:
            raise ChildNotFound(field)
    digests = [d for row in found.values() for d in (row.national_id_digest, row.match_digest)]
    subject = None if given is None else _subject(given, found[provisional_ref].jurisdiction, keys)
    if subject is not None:
        digests += [subject.national_id_digest, subject.match_digest]
    await lock_digests(session, digests)
    children = await _children(session, ids, keys)
    cases = await _latest_cases(session, ids)
    for field, child_id in (("provisional_ref", provisional_ref), ("child_ref", child_ref)):
        if child_id is not None and not principal.can_see(_where(children[child_id], cases[child_id])):
            refused = ChildNotFound(field)
            return await _refused(work.uow, principal, children[child_id], cases[child_id], refused)
    provisional, link_id, by = children[provisional_ref], uuid.uuid4(), principal.subject
    if subject is None:
        reports = await _reports_of(session, [c.id for c in cases.values() if c is not None])
        decided = linked(
            provisional, children[child_ref], cases, reports, link_id=link_id, reason=reason, by=by, at=now
        )
    else:
        holder = await registered(session, subject)
        decided = identified(
            provisional,
            cases[provisional_ref],
            given,
            national_id_digest=subject.national_id_digest,
            match_digest=subject.match_digest,
            holder=holder.id if holder else None,
            link_id=link_id,
            reason=reason,
            by=by,
            at=now,
        )
    link = decided.link
    await _write_children(session, decided.children, keys, now)
    await _move_reports(session, link.moved_reports, to_case=link.case_id, to_child=link.child_id)
    await session.execute(insert(t.child_links), [_link_row(link)])
    remaining = next(c for c in cases.values() if c is not None and c.id == link.case_id)
    return _recorded(work, principal, decided, remaining)


async def undo_link(
    work: Work,
    principal: Principal,
    link_id: uuid.UUID,
    *,
    reason: LinkUndoReason,
    keys: IntakeResources,
    note: str | None = None,
    now: datetime | None = None,
) -> Outcome | Outside:
    """A supervisor undoes a link: both children and both cases as they were, the supervisor's `note`
    kept with the case that remained (the other case may be another child's: it is not told of this
    one). Raises ChildNotFound (`link_id`) and identification's refusals."""
    session = work.tx
    now = now or datetime.now(UTC)
    links = t.child_links.c
    row = (await session.execute(select(t.child_links).where(links.id == link_id).with_for_update())).first()
    if row is None:
        raise ChildNotFound("link_id")
    link = _link_of(row)
    ids = sorted(link.children)
    await lock_digests(
        session,
        [
            link.previous_national_id_digest,
            link.previous_match_digest,
            link.merged_national_id_digest,
            link.merged_match_digest,
        ],
    )
    children = await _children(session, ids, keys)
    case_ids = [c for c in (link.case_id, link.merged_case_id) if c is not None]
    cases = await _cases(session, t.cases.c.id, case_ids)
    for case_id in case_ids:
        if not principal.can_see(cases[case_id].jurisdiction):
            return await _refused(
                work.uow,
                principal,
                children[cases[case_id].child_id],
                cases[case_id],
                ChildNotFound("link_id"),
            )
    others = await _links_about(session, ids)
    survivor = children[link.child_id]
    previous = keys.cipher.decrypt_json(link.previous_identity, record_id=str(survivor.id))
    merged = children[link.merged_child_id] if link.merged_child_id is not None else None
    decided = undone(
        link,
        survivor,
        previous,
        merged,
        cases[link.merged_case_id or link.case_id],
        later_links(link, others),
        reason=reason,
        by=principal.subject,
        at=now,
    )
    await _write_children(session, decided.children, keys, now)
    if link.merged_case_id is not None:
        await _move_reports(
            session, link.moved_reports, to_case=link.merged_case_id, to_child=link.merged_child_id
        )
        # Set either way: a closure the link caused that arrives only now closes nothing.
        reopened: dict[str, Any] = {"reopened_at": now}
        if decided.reopens:
            reopened.update(state=CaseStatus.open.value, stage="screening", closed_at=None)
        await session.execute(update(t.cases).where(t.cases.c.id == link.merged_case_id).values(**reopened))
    undo = decided.link
    await session.execute(
        update(t.child_links)
        .where(links.id == link.id)
        .values(undo_reason=undo.undo_reason, undone_by=undo.undone_by, undone_at=undo.undone_at)
    )
    await save_notes(
        session,
        t.notes,
        keys.cipher,
        [written(note, case_id=link.case_id, action=UNDO_NOTE, by=principal.subject, at=now, about=link.id)],
    )
    return _recorded(work, principal, decided, cases[link.case_id])


@dataclass(frozen=True)
class CaseLink:
    """A link that concerns a case, as its records show it (no data of the child)."""

    link: Link
    merged: bool  # the case was the one merged away (else the one that remained)
    other: CaseRecord | None  # the link's other case: none when the child was given its identity
    undoable: bool  # by identification's rules; who may undo it is the API's to say


async def links_of_case(session: Transaction, case_id: uuid.UUID) -> list[CaseLink]:
    """The links that left the case as the one that remained or merged it away, newest first, each with
    its other case and whether it can be undone now (the later links about the same children)."""
    c = t.child_links.c
    about_the_case = or_(c.case_id == case_id, c.merged_case_id == case_id)
    newest_first = (c.linked_at.desc(), c.id)
    rows = await session.execute(select(t.child_links).where(about_the_case).order_by(*newest_first))
    links = [_link_of(row) for row in rows]
    if not links:
        return []
    others = await _links_about(session, {child for link in links for child in link.children})
    other_ids = {
        other
        for link in links
        for other in (link.case_id, link.merged_case_id)
        if other is not None and other != case_id
    }
    cases = await _cases(session, t.cases.c.id, other_ids, locked=False)
    return [
        CaseLink(
            link,
            merged=link.merged_case_id == case_id,
            other=cases.get(link.merged_case_id if link.case_id == case_id else link.case_id),
            undoable=undoable(link, others),
        )
        for link in links
    ]


async def _links_about(session: Transaction, children: Iterable[uuid.UUID]) -> list[Link]:
    """Every link that left one of these children as the one that remained or merged it."""
    c, ids = t.child_links.c, sorted(set(children))
    rows = await session.execute(
        select(t.child_links).where(or_(any_of(c.child_id, ids), any_of(c.merged_child_id, ids)))
    )
    return [_link_of(row) for row in rows]


def _subject(given: Mapping[str, Any], jurisdiction: str, keys: IntakeResources) -> Subject:
    """The identity given, as the registry matches it (keyed with where the child was registered)."""
    born = given.get("birth_date")
    nid, match = match_digests(
        keys,
        national_id=given.get("national_id"),
        name=given.get("name"),
        birth_date=date.fromisoformat(born) if born else None,
        jurisdiction=jurisdiction,
    )
    return Subject(
        identity=dict(given), national_id_digest=nid, match_digest=match, jurisdiction=jurisdiction
    )


def _where(child: ChildRecord, latest: CaseRecord | None) -> str:
    """A child's territory: its case's (a screened child with no case: where it was registered)."""
    return latest.jurisdiction if latest is not None else child.jurisdiction


async def _children(
    session: Transaction, ids: Iterable[uuid.UUID], keys: IntakeResources
) -> dict[uuid.UUID, ChildRecord]:
    """The children, locked in id order, their identities decrypted (never shown: merged or compared)."""
    rows = await locked_by(session, t.children, t.children.c.id, ids)
    return {
        row.id: ChildRecord(
            id=row.id,
            identity=keys.cipher.decrypt_json(row.identity, record_id=str(row.id)),
            token=row.identity,
            national_id_digest=row.national_id_digest,
            match_digest=row.match_digest,
            jurisdiction=row.jurisdiction,
            provisional=row.provisional,
            merged_into=row.merged_into,
        )
        for row in rows
    }


async def _cases(
    session: Transaction, column, values: Iterable[uuid.UUID], *, locked: bool = True
) -> dict[uuid.UUID, CaseRecord]:
    """The cases `column` names, by id: locked in id order, unless only read."""
    c = t.cases.c
    query = select(t.cases).where(any_of(column, sorted(set(values)))).order_by(c.id)
    rows = await session.execute(query.with_for_update() if locked else query)
    return {
        row.id: CaseRecord(
            id=row.id,
            child_id=row.child_id,
            state=row.state,
            opened_at=row.opened_at,
            jurisdiction=row.jurisdiction,
            case_number=row.case_number,
            closed_at=row.closed_at,
        )
        for row in rows
    }


async def _latest_cases(
    session: Transaction, child_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CaseRecord | None]:
    """Each child's open case, else its latest (as access.latest_case chooses), or None."""
    cases = await _cases(session, t.cases.c.child_id, child_ids)
    ordered = sorted(cases.values(), key=lambda c: (c.state != CaseStatus.open, -c.opened_at.timestamp()))
    return {child_id: next((c for c in ordered if c.child_id == child_id), None) for child_id in child_ids}


async def _reports_of(
    session: Transaction, case_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    r = t.reports.c
    reports: dict[uuid.UUID, list[uuid.UUID]] = {}
    rows = await session.execute(select(r.id, r.case_id).where(any_of(r.case_id, case_ids)).order_by(r.id))
    for row in rows:
        reports.setdefault(row.case_id, []).append(row.id)
    return reports


async def _write_children(
    session: Transaction, changes: Sequence[ChildChange], keys: IntakeResources, now: datetime
) -> None:
    """One statement a child, in the order given (the one giving up its digests first)."""
    for change in changes:
        values: dict[str, Any] = {
            "national_id_digest": change.national_id_digest,
            "match_digest": change.match_digest,
            "provisional": change.provisional,
            "merged_into": change.merged_into,
            "updated_at": now,
        }
        if change.identity is not None:
            values["identity"] = keys.cipher.encrypt_json(change.identity, record_id=str(change.id))
        elif change.token is not None:
            values["identity"] = change.token
        await session.execute(update(t.children).where(t.children.c.id == change.id).values(**values))


async def _move_reports(
    session: Transaction, reports: Sequence[uuid.UUID], *, to_case: uuid.UUID, to_child: uuid.UUID | None
) -> None:
    if reports:
        await session.execute(
            update(t.reports)
            .where(any_of(t.reports.c.id, reports))
            .values(case_id=to_case, child_id=to_child)
        )


def _link_row(link: Link) -> dict[str, Any]:
    return {**row_of(link), "moved_reports": list(link.moved_reports)}


def _link_of(row) -> Link:
    return Link(**{**row._mapping, "moved_reports": tuple(row.moved_reports)})


async def _refused(
    uow: UnitOfWork,
    principal: Principal,
    child: ChildRecord,
    latest: CaseRecord | None,
    error: ChildNotFound,
) -> Outside:
    """An existing child outside the caller's territory: the attempt is on the ledger, shown nothing."""
    if latest is not None:
        record_access(
            uow,
            principal,
            case_id=latest.id,
            child_ref=child.id,
            jurisdiction=latest.jurisdiction,
            record=PersonalRecord.child_details,
            fields=(),
            purpose=PURPOSE,
            action="update",
            refusal="outside_territory",
        )
    return Outside(error)


def _recorded(work: Work, principal: Principal, decided: Decided, remaining: CaseRecord) -> Outcome:
    """The decision's event and the access record of the identity it changed, staged together."""
    link = decided.link
    access_id = record_access(
        work.uow,
        principal,
        case_id=remaining.id,
        child_ref=link.child_id,
        jurisdiction=remaining.jurisdiction,
        record=PersonalRecord.child_details,
        purpose=PURPOSE,
        action="update",
        fields=[f for f in IDENTITY_FIELDS if f.value in decided.fields],
    )
    work.uow.stage([decided.event], case_id=decided.event.case_id, cause=None)
    survivor = next(change for change in decided.children if change.id == link.child_id)
    return Outcome(link, remaining.case_number, survivor.provisional, access_id)
