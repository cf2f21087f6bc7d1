"""The access ledger's record of a read of a child's personal data — one `access.recorded` event, staged
in the reader's own transaction, so that nothing is shown that is not on record — and the one way every
service reads such a record (`recorded_read`)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal
from shared.contracts.events import PersonalDataAccessed
from shared.contracts.vocabulary import AccessPurpose, PersonalField, PersonalRecord
from shared.http import answers
from shared.notes import WrittenNote, sealed_notes, written_notes
from shared.ratelimit import limit_personal_data
from shared.service import ServiceContext
from shared.unit_of_work import UnitOfWork

T = TypeVar("T")

# Every read of personal data names why, in the query (never a body: a GET has none).
Purpose = Annotated[
    AccessPurpose,
    Query(description="Why you read this child's personal data; kept on the audit ledger with your id"),
]
# What a route that shows personal data takes besides: its own rate limit.
PERSONAL_READ = [Depends(limit_personal_data)]


def read_answers(not_found: str) -> dict[int | str, dict[str, Any]]:
    """The answers of a route that shows personal data, besides its success."""
    return answers(
        404, 503, described={404: not_found, 503: "the read could not be recorded: nothing is shown"}
    )


def many_reads_route(response_model: type, recorded: str) -> dict[str, Any]:
    """What a route that reads many children's personal data in one request declares besides its path
    and words: its answer, its rate limit, and its refusals (a body too large; the `recorded` reads, or
    exports, that could not be recorded, and so nothing shown)."""
    return {
        "response_model": response_model,
        "dependencies": PERSONAL_READ,
        "responses": answers(
            413, 503, described={503: f"the {recorded} could not be recorded: nothing is shown"}
        ),
    }


class RecordedRead(BaseModel):
    """What the answer of every read of personal data carries: its record on the ledger, and why."""

    access_id: uuid.UUID = Field(description="The ledger's record of this read")
    purpose: AccessPurpose


def record_access(
    uow: UnitOfWork,
    principal: Principal,
    *,
    case_id: uuid.UUID,
    child_ref: uuid.UUID | None,
    jurisdiction: str,
    record: PersonalRecord,
    fields: Iterable[PersonalField],
    purpose: AccessPurpose,
    action: str = "read",
    referral_id: uuid.UUID | None = None,
    refusal: str | None = None,
    service_id: uuid.UUID | None = None,
    consent_id: uuid.UUID | None = None,
    action_item_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Stage the `access.recorded` event of a read (or change) on the caller's unit of work (written
    with its transaction); with `refusal`, of an attempt that was refused and showed nothing."""
    payload = access_of(
        principal,
        case_id=case_id,
        child_ref=child_ref,
        jurisdiction=jurisdiction,
        record=record,
        fields=fields,
        purpose=purpose,
        action=action,
        referral_id=referral_id,
        refusal=refusal,
        service_id=service_id,
        consent_id=consent_id,
        action_item_id=action_item_id,
    )
    uow.stage([payload], case_id=case_id, cause=None)
    return payload.access_id


def access_of(
    principal: Principal,
    *,
    case_id: uuid.UUID,
    child_ref: uuid.UUID | None,
    jurisdiction: str,
    record: PersonalRecord,
    fields: Iterable[PersonalField],
    purpose: AccessPurpose,
    action: str = "read",
    referral_id: uuid.UUID | None = None,
    refusal: str | None = None,
    service_id: uuid.UUID | None = None,
    consent_id: uuid.UUID | None = None,
    action_item_id: uuid.UUID | None = None,
) -> PersonalDataAccessed:
    """The ledger's record of one read (or change, or refused attempt) of a child's personal data."""
    return PersonalDataAccessed(
        access_id=uuid.uuid4(),
        case_id=case_id,
        child_ref=child_ref,
        record=record,
        action=action,
        outcome="refused" if refusal else "shown",
        refusal=refusal,
        fields=[] if refusal else list(fields),
        purpose=purpose,
        accessor_ref=principal.subject,
        accessor_role=principal.role,
        agency=principal.agency,
        referral_id=referral_id,
        jurisdiction=jurisdiction,
        accessed_at=datetime.now(UTC),
        provider_id=principal.provider,
        service_id=None if refusal else service_id,
        consent_id=None if refusal else consent_id,
        action_item_id=None if refusal else action_item_id,
    )


def record_accesses(uow: UnitOfWork, accesses: Iterable[PersonalDataAccessed]) -> None:
    """Stage many reads' records at once (a list of cases): one outbox statement at commit."""
    for access in accesses:
        uow.stage([access], case_id=access.case_id, cause=None)


@dataclass(frozen=True)
class Reading:
    """What a read is about, as the service that keeps the record knows it: the case, its child, where
    it is, and — when the record exists but is not the reader's to see — why not."""

    case_id: uuid.UUID
    child_ref: uuid.UUID | None
    jurisdiction: str
    refusal: str | None = None  # outside_territory, other_agency…
    referral_id: uuid.UUID | None = None  # the referral that entitles an agency to read
    action_item_id: uuid.UUID | None = None  # or the joint meeting's action item (its own notes only)


OUTSIDE_TERRITORY = "outside_territory"


def addressed_to(
    principal: Principal, jurisdiction: str, agency: str, record_id: uuid.UUID
) -> tuple[str | None, uuid.UUID | None]:
    """Whether a record addressed to one agency (a referral, an action item) may be read by the principal:
    the refusal, if any, and the record that entitles an agency's officer (None for the case's side)."""
    if not principal.can_see(jurisdiction):
        return OUTSIDE_TERRITORY, None
    if principal.agency is None:
        return None, None
    return (None, record_id) if principal.agency == agency else ("other_agency", None)


def territorial(
    principal: Principal, case_id: uuid.UUID, child_ref: uuid.UUID | None, jurisdiction: str
) -> Reading:
    """A case's record read by territory: a reader whose territory does not cover the case is refused."""
    refusal = None if principal.can_see(jurisdiction) else OUTSIDE_TERRITORY
    return Reading(case_id=case_id, child_ref=child_ref, jurisdiction=jurisdiction, refusal=refusal)


async def case_reading(
    session: AsyncSession, principal: Principal, case_id: uuid.UUID, table: Table
) -> Reading | None:
    """A read of a case's records by territory, the case as `table` keeps it (its `case_id`, `jurisdiction`
    and `child_ref`); None when the table has no case of that id with a territory yet."""
    c = table.c
    row = (await session.execute(select(c.jurisdiction, c.child_ref).where(c.case_id == case_id))).first()
    if row is None or row.jurisdiction is None:
        return None
    return territorial(principal, case_id, row.child_ref, row.jurisdiction)


async def read_case_notes(
    ctx: ServiceContext,
    principal: Principal,
    purpose: AccessPurpose,
    *,
    find: Callable[[AsyncSession], Awaitable[Reading | None]],
    load: Callable[[AsyncSession, Reading], Awaitable[T]],
    not_found: str,
) -> tuple[uuid.UUID, T]:
    """A read of records with the notes written with them (shared/notes.py), on the ledger as the case's
    notes, the way `recorded_read` reads any record of personal data."""
    return await recorded_read(
        ctx,
        principal,
        purpose,
        record=PersonalRecord.case_notes,
        fields=[PersonalField.notes],
        find=find,
        load=load,
        not_found=not_found,
    )


class CaseNotes(RecordedRead):
    """The notes written with one service's actions on a case."""

    case_id: uuid.UUID
    notes: list[WrittenNote] = Field(
        description="Newest first, each with the action it was written with and "
        "(`about`) that action's record, as the route says"
    )


def notes_route(not_found: str) -> dict[str, Any]:
    """What the route of a case's notes declares besides its path and words: its answer, its rate limit
    (a read of personal data) and its refusals."""
    return {"response_model": CaseNotes, "dependencies": PERSONAL_READ, "responses": read_answers(not_found)}


async def read_notes_of_case(
    ctx: ServiceContext,
    principal: Principal,
    purpose: AccessPurpose,
    case_id: uuid.UUID,
    *,
    table: Table,
    find: Callable[[AsyncSession], Awaitable[Reading | None]],
    not_found: str,
) -> CaseNotes:
    """The case's notes in the service's notes `table`, read as `read_case_notes` reads them: on the
    ledger before any is opened."""
    access_id, sealed = await read_case_notes(
        ctx,
        principal,
        purpose,
        find=find,
        not_found=not_found,
        load=lambda session, reading: sealed_notes(session, table, case_id),
    )
    return CaseNotes(
        case_id=case_id,
        access_id=access_id,
        purpose=purpose,
        notes=written_notes(ctx.resources.cipher, sealed),
    )


async def recorded_read(
    ctx: ServiceContext,
    principal: Principal,
    purpose: AccessPurpose,
    *,
    record: PersonalRecord,
    fields: Iterable[PersonalField],
    find: Callable[[AsyncSession], Awaitable[Reading | None]],
    load: Callable[[AsyncSession, Reading], Awaitable[T]],
    not_found: str,
) -> tuple[uuid.UUID, T]:
    """Read a record of personal data as every service must: `find` what it is about (None: 404, nothing
    recorded), `load` it (still sealed) unless refused, and stage the read — or the refused attempt — on
    the access ledger in the same transaction. Only once that has committed is the loaded record handed
    back, to be opened; a refused attempt is answered like a record that does not exist."""
    async with ctx.unit_of_work() as work:
        reading = await find(work.tx)
        if reading is None:
            raise HTTPException(status_code=404, detail=not_found)
        loaded = None if reading.refusal else await load(work.tx, reading)
        access_id = record_access(
            work.uow,
            principal,
            case_id=reading.case_id,
            child_ref=reading.child_ref,
            jurisdiction=reading.jurisdiction,
            record=record,
            fields=fields,
            purpose=purpose,
            referral_id=reading.referral_id,
            refusal=reading.refusal,
            action_item_id=reading.action_item_id,
        )
    if reading.refusal:
        raise HTTPException(status_code=404, detail=not_found)
    return access_id, loaded
