"""Complaints about a service (投诉) and how the county's civil affairs bureau found them (监管评估): the
case's side records one, with who complained and of what; a supervisor whose territory holds the case finds it
upheld or not, once, saying why. Each change is one transaction: the row, its note sealed in referral's
notes, and `service.complaint` for the ledger (codes and days only). The scorecard counts them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update

from services.referral import tables as t
from services.referral.provision import LOCAL
from services.referral.provision_api import (
    NO_SUCH_SERVICE,
    CaseSide,
    Ctx,
    Evaluators,
    visible_to,
    with_provider,
)
from shared.auth import SUPERVISORS, Principal, require_role
from shared.contracts.events import ServiceComplaint
from shared.contracts.vocabulary import ComplaintFinding, ComplaintKind, ComplaintSource, PastDay
from shared.http import answers, note_required
from shared.notes import NoteText, save_notes, written
from shared.territory.code import in_subtree

router = APIRouter(tags=["services"])
Handlers = require_role(*SUPERVISORS)
NO_SUCH_COMPLAINT = "no such complaint for you"


class NewComplaint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ComplaintKind
    made_by: ComplaintSource
    received_on: PastDay = Field(description="The day it was made (never in the future)")
    note: NoteText = None


class Handling(BaseModel):
    model_config = ConfigDict(extra="forbid")

    finding: ComplaintFinding
    handled_on: PastDay | None = Field(default=None, description="The day it was found; today if left out")
    note: NoteText = None


class ComplaintOut(BaseModel):
    complaint_id: uuid.UUID
    service_id: uuid.UUID
    case_id: uuid.UUID
    case_number: str | None
    provider_id: uuid.UUID
    provider_name: str
    service_kind: str
    kind: ComplaintKind
    made_by: ComplaintSource
    received_on: date
    recorded_by: str
    finding: ComplaintFinding | None
    handled_on: date | None
    handled_by: str | None


def _with_service():
    c, s = t.complaints.c, t.services.c
    return select(
        t.complaints,
        s.case_id,
        s.case_number,
        s.provider_id,
        s.kind.label("service_kind"),
        s.jurisdiction,
        t.providers.c.name.label("provider_name"),
        t.providers.c.agency.label("provider_agency"),
    ).select_from(
        t.complaints.join(t.services, s.id == c.service_id).join(
            t.providers, t.providers.c.id == s.provider_id
        )
    )


def _out(row) -> ComplaintOut:
    return ComplaintOut(
        complaint_id=row.id, **{k: getattr(row, k) for k in ComplaintOut.model_fields if k != "complaint_id"}
    )


def _announced(row, *, by: str, at: datetime) -> ServiceComplaint:
    return ServiceComplaint(
        complaint_id=row.id,
        service_id=row.service_id,
        case_id=row.case_id,
        provider_id=row.provider_id,
        kind=ComplaintKind(row.kind),
        made_by=ComplaintSource(row.made_by),
        received_on=row.received_on,
        finding=row.finding and ComplaintFinding(row.finding),
        handled_on=row.handled_on,
        jurisdiction=row.jurisdiction,
        changed_by=by,
        changed_at=at,
    )


async def _changed(ctx: Ctx, work, complaint_id: uuid.UUID, *, by: str, at: datetime, note, action: str):
    """The complaint as it now stands announced, and the note sealed, in the change's transaction."""
    row = (await work.tx.execute(_with_service().where(t.complaints.c.id == complaint_id))).one()
    work.uow.stage([_announced(row, by=by, at=at)], case_id=row.case_id, cause=None)
    await save_notes(
        work.tx,
        t.notes,
        ctx.resources.cipher,
        [written(note, case_id=row.case_id, action=action, by=by, at=at, about=complaint_id)],
    )
    return _out(row)


@router.post(
    "/v1/services/{service_id}/complaints",
    response_model=ComplaintOut,
    status_code=201,
    responses=answers(404, 413),
    summary="A complaint about a service (投诉): who made it, of what, the day; by the case's side",
)
async def record_complaint(
    service_id: uuid.UUID, body: NewComplaint, principal: Annotated[Principal, Depends(CaseSide)], ctx: Ctx
) -> ComplaintOut:
    now = ctx.resources.clock()
    async with ctx.unit_of_work() as work:
        service = (await work.tx.execute(with_provider().where(t.services.c.id == service_id))).first()
        if service is None or not visible_to(principal, service):
            raise HTTPException(status_code=404, detail=NO_SUCH_SERVICE)
        complaint_id = ctx.resources.new_id()
        await work.tx.execute(
            t.complaints.insert().values(
                id=complaint_id,
                service_id=service_id,
                kind=body.kind.value,
                made_by=body.made_by.value,
                received_on=body.received_on,
                recorded_by=principal.subject,
                recorded_at=now,
            )
        )
        return await _changed(
            ctx, work, complaint_id, by=principal.subject, at=now, note=body.note, action="complaint"
        )


@router.post(
    "/v1/complaints/{complaint_id}/handling",
    response_model=ComplaintOut,
    responses=answers(404, 409, 413, described={409: "found already"}),
    summary="A supervisor finds a complaint upheld or not, once, saying why (监管评估)",
)
async def handle_complaint(
    complaint_id: uuid.UUID, body: Handling, principal: Annotated[Principal, Depends(Handlers)], ctx: Ctx
) -> ComplaintOut:
    now = ctx.resources.clock()
    note_required(body.note, "a finding says why, in words")
    async with ctx.unit_of_work() as work:
        row = (
            await work.tx.execute(
                _with_service().where(t.complaints.c.id == complaint_id).with_for_update(of=t.complaints)
            )
        ).first()
        if row is None or not principal.can_see(row.jurisdiction):
            raise HTTPException(status_code=404, detail=NO_SUCH_COMPLAINT)
        if row.finding is not None:
            raise HTTPException(status_code=409, detail=f"found {row.finding} already, on {row.handled_on}")
        handled_on = body.handled_on or now.astimezone(LOCAL).date()
        if handled_on < row.received_on:
            raise HTTPException(status_code=409, detail="handled_on: before the complaint was made")
        await work.tx.execute(
            update(t.complaints)
            .where(t.complaints.c.id == complaint_id)
            .values(finding=body.finding.value, handled_on=handled_on, handled_by=principal.subject)
        )
        return await _changed(
            ctx, work, complaint_id, by=principal.subject, at=now, note=body.note, action="complaint_found"
        )


@router.get(
    "/v1/complaints",
    response_model=list[ComplaintOut],
    summary="Complaints in your territory, by provider and whether still to be found; the oldest open first",
)
async def list_complaints(
    principal: Annotated[Principal, Depends(Evaluators)],
    ctx: Ctx,
    provider_id: uuid.UUID | None = None,
    open: Annotated[bool | None, Query(description="still to be found")] = None,  # noqa: A002
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ComplaintOut]:
    c, s = t.complaints.c, t.services.c
    query = _with_service()
    if principal.jurisdiction:
        query = query.where(in_subtree(s.jurisdiction, principal.jurisdiction))
    if provider_id is not None:
        query = query.where(s.provider_id == provider_id)
    if open is not None:
        query = query.where(c.finding.is_(None) if open else c.finding.is_not(None))
    query = query.order_by(c.finding.is_not(None), c.received_on, c.id).limit(limit)
    async with ctx.sessions() as session:
        return [_out(row) for row in (await session.execute(query)).all()]
