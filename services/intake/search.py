"""Find a child before opening a case: a caseworker or supervisor gives a national ID, or a name with
birth date and territory, and learns the matching child's `child_ref` and case — found with the same
keyed digests and the same rule the registry matches reports by (exact, never a plaintext search; a
provisional child, which has no digests, is never found). Or gives a reporter's phone, and learns the
cases reported from it, by the keyed digest of the number each report keeps (reports stored before
intake_0008 keep none, and are not found so).
A match is on the access ledger with its purpose; a match in another territory is recorded as refused
and answered as no match."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, not_, or_, select

from services.intake import tables as t
from services.intake.access import latest_case
from services.intake.decide import KnownChild, Registry, Subject
from services.intake.reports import IntakeResources, match_digests
from shared.access import access_of, record_access, record_accesses
from shared.auth import Principal
from shared.contracts.vocabulary import AccessPurpose, PersonalField, PersonalRecord
from shared.db.engine import Transaction
from shared.db.rows import any_of
from shared.territory.code import in_subtree
from shared.unit_of_work import Work


@dataclass(frozen=True)
class ChildQuery:
    purpose: AccessPurpose
    national_id: str | None = None
    name: str | None = None
    birth_date: date | None = None
    jurisdiction: str | None = None  # the 12-digit code of the place the child was reported in

    @property
    def fields(self) -> list[PersonalField]:
        """What the searcher named: what the match confirms to them."""
        if self.national_id:
            return [PersonalField.national_id]
        return [PersonalField.name, PersonalField.birth_date]


@dataclass(frozen=True)
class Found:
    child_ref: uuid.UUID
    case_id: uuid.UUID
    case_number: str
    jurisdiction: str
    access_id: uuid.UUID


def subject_of_query(query: ChildQuery, keys: IntakeResources) -> Subject:
    """The query as the registry matches a report's child (the same digests as subject_of)."""
    jurisdiction = query.jurisdiction or ""
    nid, match = match_digests(
        keys,
        national_id=query.national_id,
        name=query.name,
        birth_date=query.birth_date,
        jurisdiction=jurisdiction,
    )
    return Subject(
        identity={},
        national_id_digest=nid,
        match_digest=match if jurisdiction else None,
        jurisdiction=jurisdiction,
    )


async def registered(session: Transaction, subject: Subject) -> KnownChild | None:
    """The registered child the subject names, by the registry's own rule (`Registry.find`) over the
    children its digests name; nothing is decrypted."""
    digests = [d for d in (subject.national_id_digest, subject.match_digest) if d]
    if not digests:
        return None
    c = t.children.c
    rows = (
        await session.execute(
            select(c.id, c.national_id_digest, c.match_digest, c.jurisdiction, c.created_at).where(
                or_(any_of(c.national_id_digest, digests), any_of(c.match_digest, digests))
            )
        )
    ).all()
    registry = Registry()
    # Registration order decides between two children with the same name, birthday and place.
    for row in sorted(rows, key=lambda row: (row.created_at, row.id)):
        registry.put(
            KnownChild(
                id=row.id,
                national_id_digest=row.national_id_digest,
                match_digest=row.match_digest,
                identity={},
                jurisdiction=row.jurisdiction,
            )
        )
    return registry.find(subject)


async def find_child(
    work: Work, principal: Principal, query: ChildQuery, keys: IntakeResources
) -> Found | None:
    """The child the query names, if any, and the record of the search (on the caller's unit of
    work); None when no child matches or the match lies outside the caller's territory."""
    session = work.tx
    child = await registered(session, subject_of_query(query, keys))
    if child is None:
        return None
    case = await latest_case(session, child.id)
    refusal = None if principal.can_see(case.jurisdiction) else "outside_territory"
    access_id = record_access(
        work.uow,
        principal,
        case_id=case.id,
        child_ref=child.id,
        jurisdiction=case.jurisdiction,
        record=PersonalRecord.child_details,
        fields=query.fields,
        purpose=query.purpose,
        action="search",
        refusal=refusal,
    )
    return None if refusal else Found(child.id, case.id, case.case_number, case.jurisdiction, access_id)


# How long every search takes to answer, at least: a match in another territory is recorded as refused
# (an outbox row, ~8 ms more) and answered as no match, and without a floor its answer came measurably
# later than one for a child nowhere — telling the searcher the child exists elsewhere. Every answer is
# held to the same budget instead (both paths then do the same work as far as the caller can time it);
# the slowest path takes ~25 ms on a quiet system, so a budget four times that hides it under load too.
ANSWER_BUDGET_S = 0.1


async def answer_no_sooner_than(started: float, *, budget: float = ANSWER_BUDGET_S) -> None:
    """Wait out what is left of the budget since `started` (time.monotonic()), if anything."""
    left = started + budget - time.monotonic()
    if left > 0:
        await asyncio.sleep(left)


CASES_BY_PHONE = 20  # the most a search by phone answers (and records refused), newest first


@dataclass(frozen=True)
class PhoneQuery:
    purpose: AccessPurpose
    reporter_phone: str  # as the searcher wrote it: the digest normalises it (shared/phone.py)


async def cases_reported_from(
    work: Work, principal: Principal, query: PhoneQuery, keys: IntakeResources
) -> list[Found]:
    """The cases in the caller's territory that reports from the phone were recorded under, the one
    reported most recently first (at most CASES_BY_PHONE), each recorded as a search of the reporters
    (on the caller's unit of work); the same number of cases elsewhere recorded as refused."""
    session = work.tx
    digest = keys.hasher.reporter_phone_digest(query.reporter_phone)
    here = await _reported_from(session, digest, in_territory=True, territory=principal.jurisdiction)
    elsewhere = (
        await _reported_from(session, digest, in_territory=False, territory=principal.jurisdiction)
        if principal.jurisdiction
        else []
    )

    def searched(row, refusal: str | None = None):
        # What the match confirms to the searcher: that a report of the case came from the phone.
        return access_of(
            principal,
            case_id=row.id,
            child_ref=row.child_id,
            jurisdiction=row.jurisdiction,
            record=PersonalRecord.child_details,
            fields=[PersonalField.reporters],
            purpose=query.purpose,
            action="search",
            refusal=refusal,
        )

    shown = [searched(row) for row in here]
    record_accesses(work.uow, [*shown, *(searched(row, "outside_territory") for row in elsewhere)])
    return [
        Found(row.child_id, row.id, row.case_number, row.jurisdiction, access.access_id)
        for row, access in zip(here, shown, strict=True)
    ]


async def _reported_from(session: Transaction, digest: str, *, in_territory: bool, territory: str) -> list:
    """The cases reports with the phone's digest were recorded under, inside or outside the territory
    (by the code's prefix, as `Principal.can_see`), the latest report first."""
    r, c = t.reports.c, t.cases.c
    inside = in_subtree(c.jurisdiction, territory)
    latest = func.max(r.received_at)
    query = (
        select(c.id, c.child_id, c.case_number, c.jurisdiction)
        .join(t.reports, r.case_id == c.id)
        .where(r.reporter_phone_digest == digest, inside if in_territory else not_(inside))
        .group_by(c.id)
        .order_by(latest.desc(), c.id)
        .limit(CASES_BY_PHONE)
    )
    return list((await session.execute(query)).all())
