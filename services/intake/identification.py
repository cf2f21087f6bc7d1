"""Identifying a child nobody could name, pure: which child and which case remain when a person links
a provisional child to a known one (or gives it its identity), what the remaining child's identity and
digests become, and how a supervisor's undo puts both back as they were. services/intake/links.py
loads, locks and saves."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.contracts.events import ChildLinked, ChildLinkUndone
from shared.contracts.vocabulary import CaseStatus, IdentificationReason, LinkUndoReason


class Refused(ValueError):
    """What the children's state does not allow (409); the message says why."""


class LinkedAlready(Refused):
    """The provisional child was merged into another child by a link still in force."""


class NotProvisional(Refused):
    """The child has its identity already: only a provisional child is identified."""


class IdentityTaken(Refused):
    """The identity given is a registered child's: the provisional child is linked to it instead."""


class UndoneAlready(Refused):
    """The link was undone already."""


class LaterLinks(Refused):
    """A later link changed one of the same children: it is undone first (links undo in reverse order)."""


class SameChild(ValueError):
    """A child cannot be linked to itself (422, naming `child_ref`)."""


@dataclass(frozen=True)
class ChildRecord:
    """One row of the registry, as a link sees it."""

    id: uuid.UUID
    identity: dict[str, Any]
    token: bytes  # the identity as stored (encrypted): kept whole, so that an undo restores it exactly
    national_id_digest: str | None
    match_digest: str | None
    jurisdiction: str
    provisional: bool
    merged_into: uuid.UUID | None = None


@dataclass(frozen=True)
class CaseRecord:
    """One of intake's cases, as a link sees it."""

    id: uuid.UUID
    child_id: uuid.UUID
    state: str
    opened_at: datetime
    jurisdiction: str
    case_number: str
    closed_at: datetime | None = None


@dataclass(frozen=True)
class Link:
    """One identification, as `intake.child_links` keeps it: what was decided and what it replaced."""

    id: uuid.UUID
    provisional_id: uuid.UUID
    child_id: uuid.UUID  # the child that remains
    merged_child_id: uuid.UUID | None  # None: the provisional child was given its identity
    case_id: uuid.UUID  # the case that remains
    merged_case_id: uuid.UUID | None
    moved_reports: tuple[uuid.UUID, ...]  # from the merged case to the one that remains
    previous_identity: bytes  # the remaining child's identity token before the link
    previous_national_id_digest: str | None
    previous_match_digest: str | None
    previous_provisional: bool
    merged_national_id_digest: str | None  # moved from the merged child to the one that remains
    merged_match_digest: str | None
    reason: str
    linked_by: str
    linked_at: datetime
    undo_reason: str | None = None
    undone_by: str | None = None
    undone_at: datetime | None = None

    @property
    def children(self) -> frozenset[uuid.UUID]:
        return frozenset(c for c in (self.child_id, self.merged_child_id) if c is not None)


@dataclass(frozen=True)
class ChildChange:
    """What one child's row becomes. Either a new identity (to encrypt) or a stored token put back."""

    id: uuid.UUID
    national_id_digest: str | None
    match_digest: str | None
    provisional: bool
    merged_into: uuid.UUID | None
    identity: dict[str, Any] | None = None
    token: bytes | None = None


@dataclass(frozen=True)
class Decided:
    """A link or its undo: the link's record, the children's rows in the order they are written (the
    one giving up its digests first: a national id's digest is unique), the names of the remaining
    child's identity fields that changed (for the access ledger) and the event."""

    link: Link
    children: tuple[ChildChange, ...]
    fields: tuple[str, ...]
    event: ChildLinked | ChildLinkUndone
    reopens: bool = False  # undone: the case merged away was closed by the link, and reopens


def surviving(a: CaseRecord, b: CaseRecord) -> tuple[CaseRecord, CaseRecord]:
    """(the case that remains, the case merged away): an open case before a closed one, then the one
    opened first — the case people have worked longest, whose owner and referrals are kept."""
    first, second = sorted(
        (a, b), key=lambda case: (case.state != CaseStatus.open, case.opened_at, str(case.id))
    )
    return first, second


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(k for k in {*before, *after} if before.get(k) != after.get(k)))


def _identifiable(provisional: ChildRecord) -> None:
    if provisional.merged_into is not None:
        raise LinkedAlready("the child was linked to another child already; a supervisor may undo that link")
    if not provisional.provisional:
        raise NotProvisional("the child is identified already: only a provisional child is identified")


def _filled(identity: Mapping[str, Any], known: Mapping[str, Any]) -> dict[str, Any]:
    """`identity` with every value `known` has: the known values win, the others fill the gaps."""
    return {**identity, **{k: v for k, v in known.items() if v is not None}}


def _link(
    link_id: uuid.UUID,
    provisional: ChildRecord,
    survivor: ChildRecord,
    merged: ChildRecord | None,
    keep: CaseRecord,
    gone: CaseRecord | None,
    moved: Sequence[uuid.UUID],
    reason: IdentificationReason,
    by: str,
    at: datetime,
) -> Link:
    """The link's record: what it decided, and what the survivor and the merged child had before it."""
    return Link(
        id=link_id,
        provisional_id=provisional.id,
        child_id=survivor.id,
        merged_child_id=merged.id if merged else None,
        case_id=keep.id,
        merged_case_id=gone.id if gone else None,
        moved_reports=tuple(moved),
        previous_identity=survivor.token,
        previous_national_id_digest=survivor.national_id_digest,
        previous_match_digest=survivor.match_digest,
        previous_provisional=survivor.provisional,
        merged_national_id_digest=merged.national_id_digest if merged else None,
        merged_match_digest=merged.match_digest if merged else None,
        reason=reason.value,
        linked_by=by,
        linked_at=at,
    )


def linked(
    provisional: ChildRecord,
    known: ChildRecord,
    cases: Mapping[uuid.UUID, CaseRecord | None],
    reports: Mapping[uuid.UUID, Sequence[uuid.UUID]],
    *,
    link_id: uuid.UUID,
    reason: IdentificationReason,
    by: str,
    at: datetime,
) -> Decided:
    """A person says the provisional child is the known one: one child and one case remain. The case
    that remains is `surviving`'s (the provisional child's alone when the known child has none), and
    its child remains, with the known child's identity (its values win; the description fills the
    gaps) and digests; the other child is merged into it, and the other case's reports (`reports`, by
    case) move to the case that remains. `cases` gives each child's case (open, else the latest)."""
    _identifiable(provisional)
    if known.id == provisional.id:
        raise SameChild("a child cannot be linked to itself")
    if known.merged_into is not None:
        raise Refused("child_ref was merged into another child by an earlier link: link to that child")
    own, theirs = cases[provisional.id], cases.get(known.id)
    if own is None:
        raise Refused("the provisional child has no case")  # every reported child has one
    keep, gone = surviving(own, theirs) if theirs is not None else (own, None)
    survivor, merged = (provisional, known) if keep.child_id == provisional.id else (known, provisional)
    identity = _filled(provisional.identity, known.identity)
    moved = reports.get(gone.id, ()) if gone else ()
    link = _link(link_id, provisional, survivor, merged, keep, gone, moved, reason, by, at)
    changes = (
        ChildChange(merged.id, None, None, merged.provisional, merged_into=survivor.id),
        ChildChange(
            survivor.id,
            known.national_id_digest,
            known.match_digest,
            known.provisional,
            None,
            identity=identity,
        ),
    )
    key = gone or keep
    event = ChildLinked(
        case_id=key.id,
        link_id=link_id,
        provisional_ref=provisional.id,
        child_ref=survivor.id,
        merged_child_ref=merged.id,
        surviving_case_id=keep.id,
        jurisdiction=key.jurisdiction,
        linked_at=at,
        reason=reason,
        linked_by=by,
    )
    return Decided(link, changes, _changed(survivor.identity, identity), event)


def identified(
    provisional: ChildRecord,
    case: CaseRecord,
    given: Mapping[str, Any],
    *,
    national_id_digest: str | None,
    match_digest: str | None,
    holder: uuid.UUID | None,
    link_id: uuid.UUID,
    reason: IdentificationReason,
    by: str,
    at: datetime,
) -> Decided:
    """A person gives the provisional child its identity (the values given win over the description's
    guesses); `holder` is the registered child the registry already matches that identity to, if any —
    then the provisional child is linked to that child instead (IdentityTaken)."""
    _identifiable(provisional)
    if holder is not None:
        raise IdentityTaken(
            "a registered child has this identity: link the provisional child to it "
            "(find its child_ref with POST /v1/children/search)"
        )
    identity = _filled(provisional.identity, given)
    link = _link(link_id, provisional, provisional, None, case, None, (), reason, by, at)
    change = ChildChange(provisional.id, national_id_digest, match_digest, False, None, identity=identity)
    event = ChildLinked(
        case_id=case.id,
        link_id=link_id,
        provisional_ref=provisional.id,
        child_ref=provisional.id,
        surviving_case_id=case.id,
        jurisdiction=case.jurisdiction,
        linked_at=at,
        reason=reason,
        linked_by=by,
    )
    return Decided(link, (change,), _changed(provisional.identity, identity), event)


def undone(
    link: Link,
    survivor: ChildRecord,
    previous_identity: Mapping[str, Any],
    merged: ChildRecord | None,
    key_case: CaseRecord,
    later: Sequence[Link],
    *,
    reason: LinkUndoReason,
    by: str,
    at: datetime,
) -> Decided:
    """A supervisor undoes a link: the remaining child's identity and digests as they were before it,
    the merged child's digests given back, the moved reports back in their case, which reopens if the
    link closed it (casework closed it as a duplicate). `key_case` is the case the link's event was
    keyed by; `later` the links in force made after this one about either child (undone first)."""
    if link.undone_at is not None:
        raise UndoneAlready("the link was undone already")
    if later:
        raise LaterLinks(
            "a later link changed the same children: undo it first "
            f"({', '.join(str(other.id) for other in later)})"
        )
    changes = [
        ChildChange(
            survivor.id,
            link.previous_national_id_digest,
            link.previous_match_digest,
            link.previous_provisional,
            None,
            token=link.previous_identity,
        )
    ]
    if merged is not None:
        changes.append(
            ChildChange(
                merged.id, link.merged_national_id_digest, link.merged_match_digest, merged.provisional, None
            )
        )
    closed_by_link = key_case.closed_at is not None and key_case.closed_at >= link.linked_at
    reopens = link.merged_case_id is not None and key_case.state == CaseStatus.closed and closed_by_link
    undo = dataclasses.replace(link, undo_reason=reason.value, undone_by=by, undone_at=at)
    event = ChildLinkUndone(
        case_id=key_case.id,
        link_id=link.id,
        provisional_ref=link.provisional_id,
        child_ref=link.child_id,
        merged_child_ref=link.merged_child_id,
        surviving_case_id=link.case_id,
        jurisdiction=key_case.jurisdiction,
        linked_at=link.linked_at,
        reason=reason,
        undone_by=by,
        undone_at=at,
    )
    return Decided(undo, tuple(changes), _changed(survivor.identity, previous_identity), event, reopens)


def later_links(link: Link, others: Sequence[Link]) -> list[Link]:
    """The links in force made after `link` that changed one of its children."""
    return [
        other
        for other in others
        if other.id != link.id
        and other.undone_at is None
        and other.linked_at >= link.linked_at
        and other.children & link.children
    ]


def undoable(link: Link, others: Sequence[Link]) -> bool:
    """Whether `undone` would undo the link now: it is in force, and no later link in force about either
    child (among `others`) has to be undone first. Who may undo it is the API's role and territory rule."""
    return link.undone_at is None and not later_links(link, others)
