"""Audit's HTTP API: a case's timeline — every event of the case, across all services and
agencies, in causal order, with no personal data — and a child's access log: everyone who was
shown the child's personal data, when, for which agency and why."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import select

from services.audit import tables as t
from shared.auth import Principal, Role, require_role
from shared.contracts.events import PersonalDataAccessed
from shared.http import answers
from shared.service import ServiceContext, service_context

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


@router.get("/v1/cases/{case_id}/timeline", response_model=list[Step], responses=answers(404),
            summary="Every event of a case, in causal order")
async def timeline(case_id: uuid.UUID, principal: Annotated[Principal, Depends(Readers)],
                   ctx: Annotated[ServiceContext, Depends(service_context)]) -> list[Step]:
    async with ctx.sessions() as session:
        rows = (await session.execute(select(t.ledger.c.seq, t.ledger.c.record, t.ledger.c.topic,
                                             t.ledger.c.event_type)
                                      .where(t.ledger.c.case_id == case_id).order_by(t.ledger.c.seq))).all()
    if not rows:
        raise HTTPException(status_code=404, detail=f"no events of case {case_id}")
    steps = []
    for row in rows:
        event = row.record.get("event") or {}
        payload = event.get("payload")
        jurisdiction = (payload or {}).get("jurisdiction")
        if jurisdiction and not principal.can_see(jurisdiction):
            raise HTTPException(status_code=404, detail=f"no events of case {case_id}")
        steps.append(Step(seq=row.seq, event_id=event.get("event_id"), event_type=row.event_type,
                          producer=event.get("producer"), occurred_at=event.get("occurred_at"),
                          caused_by=event.get("causation_id"), topic=row.topic, payload=payload))
    return causal_order(steps)


# ---- who has seen a child's personal data ---------------------------------------------------

ACCESS_EVENT = PersonalDataAccessed.EVENT_TYPE
AccessReaders = require_role(Role.supervisor, Role.auditor)


class Access(BaseModel):
    seq: int = Field(description="The ledger entry")
    access_id: uuid.UUID
    accessed_at: str
    accessor_ref: str
    accessor_role: str
    agency: str | None
    referral_id: uuid.UUID | None
    case_id: uuid.UUID
    record: str
    action: str
    outcome: str = Field(description="shown, or refused (and then nothing was shown)")
    refusal: str | None
    fields: list[str]
    purpose: str


def child_of_access():
    """The ledger expression indexed by migration audit_0004 (ledger_access_child)."""
    return t.ledger.c.record["event"]["payload"]["child_ref"].astext


@router.get("/v1/children/{child_ref}/access", response_model=list[Access], responses=answers(404),
            summary="Everyone shown a child's personal data, or refused it: who, agency, record, fields, "
                    "purpose; oldest first")
async def access_log(child_ref: uuid.UUID, principal: Annotated[Principal, Depends(AccessReaders)],
                     ctx: Annotated[ServiceContext, Depends(service_context)]) -> list[Access]:
    async with ctx.sessions() as session:
        rows = (await session.execute(select(t.ledger.c.seq, t.ledger.c.record)
                                      .where(t.ledger.c.event_type == ACCESS_EVENT,
                                             child_of_access() == str(child_ref))
                                      .order_by(t.ledger.c.seq))).all()
    payloads = [(row.seq, row.record["event"]["payload"]) for row in rows]
    if not payloads or not all(principal.can_see(p["jurisdiction"]) for _, p in payloads):
        raise HTTPException(status_code=404, detail=f"no access to child {child_ref} on record in your territory")
    return [Access(seq=seq, **{k: v for k, v in p.items() if k in Access.model_fields}) for seq, p in payloads]
