"""Intake's decisions over the registry a batch loaded, without I/O: which child a report or a
survey row is about (matched, or new — a child nobody could name is always new, a provisional child),
what it adds to the child's identity (never overwriting), which case it joins (the open one, the last
closed one reopened, or a new one), and how many reports about the child came before it.
services/intake/reports.py loads, numbers new cases and saves."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Subject:
    """What a report or a survey row says about its child, as the registry matches it."""

    identity: dict[str, Any]  # the contract's Child, as JSON; stored encrypted
    national_id_digest: str | None
    match_digest: str | None  # normalised name + birth date + territory
    jurisdiction: str
    provisional: bool = False  # nobody could name the child: it has no digests and is never matched


@dataclass(frozen=True)
class KnownChild:
    """A child of the registry, as this batch found (or made) it."""

    id: uuid.UUID
    national_id_digest: str | None
    match_digest: str | None
    identity: dict[str, Any]
    jurisdiction: str
    open_case: uuid.UUID | None = None
    closed_case: uuid.UUID | None = None  # the last one closed: a new report reopens it
    reports: int = 0  # reports recorded about the child so far
    new: bool = False  # registered by this batch
    changed: bool = False  # known before, its identity or digests completed by this batch
    provisional: bool = False  # described, not named: only a person links it to a known child


@dataclass(frozen=True)
class Placed:
    """Where one report or survey row landed."""

    child_id: uuid.UUID
    case_id: uuid.UUID | None  # None: a survey row that found no difficulty opens no case
    earlier_reports: int
    case: str | None  # "joined", "reopened" or "opened"
    case_number: str | None = None  # the case's, once known (a new case's: once its batch reserved it)


@dataclass
class Registry:
    """The children a batch is about, by id and by both digests. Decisions replace a child's
    record here, so a later event of the batch sees what an earlier one decided."""

    children: dict[uuid.UUID, KnownChild] = field(default_factory=dict)
    case_numbers: dict[uuid.UUID, str] = field(default_factory=dict)  # of the cases loaded with them
    _by_nid: dict[str, uuid.UUID] = field(default_factory=dict)
    _by_match: dict[str, list[uuid.UUID]] = field(default_factory=dict)

    def put(self, child: KnownChild) -> None:
        self.children[child.id] = child
        if child.provisional:
            return  # never matched: another report about it opens another provisional child
        if child.national_id_digest:
            self._by_nid.setdefault(child.national_id_digest, child.id)
        if child.match_digest and child.id not in self._by_match.get(child.match_digest, ()):
            self._by_match.setdefault(child.match_digest, []).append(child.id)

    def find(self, subject: Subject) -> KnownChild | None:
        """Exact national id first; else the first child (in registration order) with the same
        name, birth date and territory whose national id, if known, does not differ."""
        nid = subject.national_id_digest
        if subject.provisional:
            return None
        if nid and nid in self._by_nid:
            return self.children[self._by_nid[nid]]
        for child_id in self._by_match.get(subject.match_digest or "", ()):
            child = self.children[child_id]
            if nid is None or child.national_id_digest in (None, nid):
                return child
        return None


def completed(child: KnownChild, subject: Subject) -> KnownChild:
    """The child with what this subject adds to its identity: a value already known is kept."""
    identity = {**subject.identity, **{k: v for k, v in child.identity.items() if v is not None}}
    nid = child.national_id_digest or subject.national_id_digest
    match = child.match_digest or subject.match_digest
    if (identity, nid, match) == (child.identity, child.national_id_digest, child.match_digest):
        return child
    return dataclasses.replace(
        child, identity=identity, national_id_digest=nid, match_digest=match, changed=not child.new
    )


def place(
    registry: Registry, subject: Subject, *, opens_case: bool, new_id: Callable[[], uuid.UUID] = uuid.uuid4
) -> Placed:
    """Match or register the subject's child; with `opens_case`, count a report about it and
    join its open case, reopen its last closed one, or open a new one."""
    child = registry.find(subject)
    if child is None:
        child = KnownChild(
            id=new_id(),
            national_id_digest=subject.national_id_digest,
            match_digest=subject.match_digest,
            identity=subject.identity,
            jurisdiction=subject.jurisdiction,
            new=True,
            provisional=subject.provisional,
        )
    else:
        child = completed(child, subject)
    if not opens_case:
        registry.put(child)
        return Placed(child.id, None, child.reports, None)
    if child.open_case is not None:
        case_id, how = child.open_case, "joined"
    elif child.closed_case is not None:
        # A case's history (and every agency's record of it) stays in one place.
        case_id, how = child.closed_case, "reopened"
    else:
        case_id, how = new_id(), "opened"
    earlier = child.reports
    registry.put(
        dataclasses.replace(
            child,
            open_case=case_id,
            closed_case=None if how == "reopened" else child.closed_case,
            reports=earlier + 1,
        )
    )
    return Placed(child.id, case_id, earlier, how)


def numbered(placed: Sequence[Placed], numbers: Mapping[uuid.UUID, str]) -> list[Placed]:
    """Each placement with its case's number: a joined or reopened case keeps the one it has, a case
    the batch opened takes the one reserved for it (and so does a later report of the batch joining it)."""
    return [
        p if p.case_id is None else dataclasses.replace(p, case_number=numbers[p.case_id]) for p in placed
    ]
