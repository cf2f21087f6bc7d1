"""Audit's HTTP API: a case's timeline — every event of the case, across all services and
agencies, in causal order, with no personal data — and a child's access log: everyone who was
shown the child's personal data, when, for which agency and why."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field
from sqlalchemy import ColumnElement, select

from services.audit import tables as t
from shared.auth import TERRITORY_PREFIX_PATTERN, Principal, Role, require_role
from shared.contracts.events import CaseTransferred, PersonalDataAccessed
from shared.http import answers, unprocessable
from shared.service import ServiceContext, service_context
from shared.territory.code import in_subtree

router = APIRouter(tags=["audit"])
Readers = require_role(Role.caseworker, Role.supervisor, Role.auditor, Role.operator)


class Step(BaseModel):
    seq: int
    event_id: str | None
    event_type: str
    producer: str | None
    occurred_at: str | None
    caused_by: str | None
    topic: str
    payload: dict[str, Any] | None


def causal_order(steps: list[Step]) -> list[Step]:
    """Causes before their effects (the envelopes' causation ids); otherwise by time, then
    by ledger order — Kafka keeps no order across topics, the causal links do."""
    by_id = {s.event_id: s for s in steps if s.event_id}
    placed: set[int] = set()
    ordered: list[Step] = []

    def place(step: Step, trail: set[int]) -> None:
        if step.seq in placed or step.seq in trail:
            return
        cause = by_id.get(step.caused_by) if step.caused_by else None
        if cause is not None:
            place(cause, trail | {step.seq})
        placed.add(step.seq)
        ordered.append(step)

    for step in sorted(steps, key=lambda s: (s.occurred_at or "", s.seq)):
        place(step, set())
    return ordered


def readable(steps: list[Step], can_see: Callable[[str], bool]) -> list[Step]:
    """What of a case's timeline (in ledger order) a reader may see. A case that moved to another
    territory (`case.transferred`) is wholly the territory it is in now, its history included; a
    territory it left keeps the steps up to its leaving — what it did. A case that never moved is
    seen only by a reader whose territory holds every step."""
    moves = [i for i, step in enumerate(steps) if step.event_type == CaseTransferred.EVENT_TYPE]
    if not moves:
        return steps if all(can_see(j) for j in map(_jurisdiction, steps) if j) else []
    if can_see(steps[moves[-1]].payload["jurisdiction"]):
        return steps
    left = next((steps[i] for i in reversed(moves) if can_see(steps[i].payload["from_jurisdiction"])), None)
    return [] if left is None else [step for step in steps if _before(step, left)]


def _jurisdiction(step: Step) -> str | None:
    return (step.payload or {}).get("jurisdiction")


def _before(step: Step, transfer: Step) -> bool:
    """The step happened by the time of the transfer (the ledger's order when either has no time:
    events of different topics may reach the ledger out of the order they happened in)."""
    if step.occurred_at and transfer.occurred_at:
        return datetime.fromisoformat(step.occurred_at) <= datetime.fromisoformat(transfer.occurred_at)
    return step.seq <= transfer.seq


def _of_case(case_id: uuid.UUID) -> ColumnElement[bool]:
    """The case's own events, and the identifications that merged another case into it."""
    return (t.ledger.c.case_id == case_id) | (
        t.ledger.c.event_type.in_(t.LINK_EVENTS) & (_payload("surviving_case_id") == str(case_id))
    )


@router.get(
    "/v1/cases/{case_id}/timeline",
    response_model=list[Step],
    responses=answers(404),
    summary="Every event of a case, in causal order",
)
async def timeline(
    case_id: uuid.UUID,
    principal: Annotated[Principal, Depends(Readers)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
) -> list[Step]:
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(t.ledger.c.seq, t.ledger.c.record, t.ledger.c.topic, t.ledger.c.event_type)
                .where(_of_case(case_id))
                .order_by(t.ledger.c.seq)
            )
        ).all()
    steps = []
    for row in rows:
        event = row.record.get("event") or {}
        steps.append(
            Step(
                seq=row.seq,
                event_id=event.get("event_id"),
                event_type=row.event_type,
                producer=event.get("producer"),
                occurred_at=event.get("occurred_at"),
                caused_by=event.get("causation_id"),
                topic=row.topic,
                payload=event.get("payload"),
            )
        )
    shown = readable(steps, principal.can_see)
    if not shown:
        raise HTTPException(status_code=404, detail=f"no events of case {case_id}")
    return causal_order(shown)


# ---- who has seen a child's personal data ---------------------------------------------------

ACCESS_EVENT = PersonalDataAccessed.EVENT_TYPE
AccessReaders = require_role(Role.supervisor, Role.auditor)


class Access(BaseModel):
    seq: int = Field(description="The ledger entry")
    access_id: uuid.UUID
    child_ref: uuid.UUID | None = Field(
        description="The child read about; null for a case's notes read where the service had not yet "
        "heard which child the case is about (access.recorded allows it)"
    )
    jurisdiction: str = Field(description="Where the child's case was when it was read")
    accessed_at: str
    accessor_ref: str
    accessor_role: str
    agency: str | None
    referral_id: uuid.UUID | None
    provider_id: uuid.UUID | None = Field(
        default=None, description="The reader's provider (a provider's worker)"
    )
    service_id: uuid.UUID | None = Field(
        default=None, description="The open service that let a provider read"
    )
    consent_id: uuid.UUID | None = Field(
        default=None,
        description="The consent, or the supervisor's override, that let an agency or provider read; "
        "null for the case's own people and the police on an emergency",
    )
    action_item_id: uuid.UUID | None = Field(
        default=None,
        description="The joint meeting's action item that let a department read what it was asked",
    )
    case_id: uuid.UUID
    record: str
    action: str
    outcome: str = Field(description="shown, or refused (and then nothing was shown)")
    refusal: str | None
    fields: list[str]
    purpose: str


def _payload(name: str):
    """A field of an access entry's payload, as the ledger's expression indexes name it."""
    return t.ledger.c.record["event"]["payload"][name].astext


def child_of_access():
    """The ledger expression indexed by migration audit_0004 (ledger_access_child)."""
    return _payload("child_ref")


def _access(seq: int, payload: dict) -> Access:
    return Access(seq=seq, **{k: v for k, v in payload.items() if k in Access.model_fields})


@router.get(
    "/v1/children/{child_ref}/access",
    response_model=list[Access],
    responses=answers(404),
    summary="Everyone shown a child's personal data, or refused it: who, agency, record, fields, "
    "purpose; oldest first",
)
async def access_log(
    child_ref: uuid.UUID,
    principal: Annotated[Principal, Depends(AccessReaders)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
) -> list[Access]:
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(t.ledger.c.seq, t.ledger.c.record)
                .where(t.ledger.c.event_type == ACCESS_EVENT, child_of_access() == str(child_ref))
                .order_by(t.ledger.c.seq)
            )
        ).all()
    # Each access is on record in the territory the child's case was in at the time: a child who
    # moved has entries in both, and each territory sees its own.
    payloads = [(row.seq, row.record["event"]["payload"]) for row in rows]
    payloads = [(seq, p) for seq, p in payloads if principal.can_see(p["jurisdiction"])]
    if not payloads:
        raise HTTPException(
            status_code=404, detail=f"no access to child {child_ref} on record in your territory"
        )
    return [_access(seq, p) for seq, p in payloads]


class AccessPage(BaseModel):
    entries: list[Access] = Field(description="Newest first")
    next: int | None = Field(description="Pass as `before` for the next page; null on the last page")


def _written_as_a_moment(value: object) -> object:
    # ISO 8601 only: Pydantic's lax mode took a number ("0.5") as seconds since 1970.
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("a moment is written in ISO 8601 with its offset") from None
    return value


def _on_the_calendar(moment: datetime | None) -> datetime | None:
    # A moment whose UTC falls outside years 1-9999 cannot be compared with the ledger's: a 422, not a 500.
    if moment is not None and moment.tzinfo is not None:
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise ValueError("a moment within the years 1 to 9999 in UTC") from None
    return moment


Moment = Annotated[
    datetime | None,
    BeforeValidator(_written_as_a_moment),
    AfterValidator(_on_the_calendar),
    Query(description="ISO 8601 with its offset, e.g. 2026-12-01T00:00:00+08:00"),
]


@router.get(
    "/v1/access",
    response_model=AccessPage,
    responses=answers(422),
    summary="Who was shown children's personal data, or refused it — by reader, territory and period; "
    "newest first, in pages",
)
async def access_entries(
    principal: Annotated[Principal, Depends(AccessReaders)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
    reader: Annotated[str | None, Query(max_length=128, description="a reader's id")] = None,
    territory: Annotated[str | None, Query(pattern=TERRITORY_PREFIX_PATTERN)] = None,
    child_ref: uuid.UUID | None = None,
    since: Moment = None,
    until: Moment = None,
    before: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="the `next` of the page before")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AccessPage:
    """A supervisor sees the entries of their own territory (where each case was when read), an
    auditor every territory's."""
    for moment, name in ((since, "since"), (until, "until")):
        if moment is not None and moment.tzinfo is None:
            raise unprocessable(
                [{"loc": ["query", name], "msg": "give the time zone's offset", "type": "value_error"}]
            )
    where = [t.ledger.c.event_type == ACCESS_EVENT]
    where += [
        in_subtree(_payload("jurisdiction"), prefix)
        for prefix in filter(None, (principal.jurisdiction, territory))
    ]
    if reader:
        where.append(_payload("accessor_ref") == reader)
    if child_ref:
        where.append(child_of_access() == str(child_ref))
    # accessed_at is ISO 8601 in UTC on every entry, so its text orders as time does.
    if since:
        where.append(_payload("accessed_at") >= _utc_text(since))
    if until:
        where.append(_payload("accessed_at") < _utc_text(until))
    if before:
        where.append(t.ledger.c.seq < before)
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(t.ledger.c.seq, t.ledger.c.record)
                .where(*where)
                .order_by(t.ledger.c.seq.desc())
                .limit(limit + 1)
            )
        ).all()
    entries = [_access(row.seq, row.record["event"]["payload"]) for row in rows[:limit]]
    return AccessPage(entries=entries, next=entries[-1].seq if len(rows) > limit else None)


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
