"""Consent and assent over HTTP: a case's records and what they allow, the guardian's or the child's
consent recorded, a supervisor's override, a withdrawal. Each change is one transaction: the record,
its note sealed in intake's notes, `consent.changed` on the case's topic and, for a withdrawal, a
`consent.withdrawn` on the topic of every kind of agency it named (services/intake/consent.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update

from services.intake import consent as rules
from services.intake import tables as t
from services.intake.access import consent_of, consents_of
from services.intake.decide import years_between
from shared.auth import Principal, Role, require_role
from shared.case_number import CHINA_STANDARD_TIME
from shared.contracts.vocabulary import (
    ConsentGiver,
    ConsentKind,
    ConsentWay,
    OverrideReason,
    PastDay,
    SharingParty,
)
from shared.db.rows import row_of
from shared.http import answers, note_required
from shared.notes import NoteText, save_notes, written
from shared.service import ServiceContext, service_context
from shared.unit_of_work import Work

router = APIRouter(tags=["consent"])

ConsentKeepers = require_role(Role.caseworker, Role.supervisor)
Overriders = require_role(Role.supervisor)
NO_SUCH_CASE = "no such case in your territory"
NO_SUCH_CONSENT = "no such consent in your territory"
Parties = Annotated[
    list[SharingParty],
    Field(min_length=1, description="The kinds of agency or provider the child's details may be shared with"),
]


class ConsentRecord(BaseModel):
    """One record, as the case's people read it: codes and days, who recorded it; its note is read with
    the case's notes (GET /v1/cases/{id}/notes, on the ledger)."""

    consent_id: uuid.UUID
    case_id: uuid.UUID
    kind: ConsentKind = Field(
        description="consent (the guardian's, or the child's from 15), assent (a younger child's: recorded, "
        "not enough alone), override (a supervisor's, with a reason)"
    )
    given_by: ConsentGiver | None
    way: ConsentWay | None
    reason: OverrideReason | None
    parties: list[SharingParty]
    given_on: date
    recorded_by: str = Field(description="Pseudonymous id of who recorded it")
    recorded_at: datetime
    withdrawn_on: date | None
    withdrawn_by: str | None
    in_force: bool


class CaseConsent(BaseModel):
    """A case's consent state: every record, newest first, and whom its child's details may be shared with
    now — each kind with what allows it (a consent before an override)."""

    case_id: uuid.UUID
    records: list[ConsentRecord]
    sharing: dict[SharingParty, ConsentKind] = Field(
        description="Each kind of agency or provider a record in force allows, and by what; a kind not "
        "listed is refused (but the police on an emergency)"
    )


class ConsentGiven(BaseModel):
    model_config = ConfigDict(extra="forbid")

    given_by: ConsentGiver
    way: ConsentWay
    parties: Parties
    given_on: PastDay = Field(description="The day it was given (never in the future)")
    note: NoteText = None


class ConsentOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: OverrideReason
    parties: Parties
    note: NoteText = None


class ConsentWithdrawal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    withdrawn_on: PastDay | None = Field(
        default=None, description="The day it was withdrawn; today if left out"
    )
    note: NoteText = None


def _record(consent: rules.Consent) -> ConsentRecord:
    return ConsentRecord(
        consent_id=consent.id,
        case_id=consent.case_id,
        kind=consent.kind,
        given_by=consent.given_by,
        way=consent.way,
        reason=consent.reason,
        parties=list(consent.parties),
        given_on=consent.given_on,
        recorded_by=consent.recorded_by,
        recorded_at=consent.recorded_at,
        withdrawn_on=consent.withdrawn_on,
        withdrawn_by=consent.withdrawn_by,
        in_force=consent.in_force,
    )


def _state(case_id: uuid.UUID, consents: list[rules.Consent]) -> CaseConsent:
    sharing: dict[SharingParty, ConsentKind] = {}
    for party in SharingParty:
        _, allowing = rules.entitling(consents, party, emergency_police=False)
        if allowing is not None:
            sharing[party] = next(c.kind for c in consents if c.id == allowing)
    return CaseConsent(
        case_id=case_id,
        records=[_record(c) for c in sorted(consents, key=lambda c: c.recorded_at, reverse=True)],
        sharing=sharing,
    )


async def _case(session, principal: Principal, case_id: uuid.UUID, *, lock: bool = False):
    query = select(t.cases).where(t.cases.c.id == case_id)
    row = (await session.execute(query.with_for_update() if lock else query)).first()
    if row is None or not principal.can_see(row.jurisdiction):
        raise HTTPException(status_code=404, detail=NO_SUCH_CASE)
    return row


def _child_age(ctx: ServiceContext, child, today: date) -> int | None:
    """The child's age today, from the registry (the birth date, else the age estimated when reported)."""
    identity = ctx.resources.cipher.decrypt_json(child.identity, record_id=str(child.id))
    born = identity.get("birth_date")
    if born:
        return years_between(date.fromisoformat(born), today)
    return identity.get("age_estimate")


async def _changed(
    work: Work, cipher, consent: rules.Consent, case, *, by: str, at: datetime, note: str | None
) -> CaseConsent:
    """The record written (a new one, or its withdrawal), its announcement (and a withdrawal's word to each
    agency named) and its note, in the change's transaction; the case's consent state after it."""
    if consent.in_force:
        await work.tx.execute(t.consents.insert().values(**_row(consent)))
    else:
        await work.tx.execute(
            update(t.consents)
            .where(t.consents.c.id == consent.id)
            .values(
                withdrawn_on=consent.withdrawn_on,
                withdrawn_by=consent.withdrawn_by,
                withdrawn_at=consent.withdrawn_at,
            )
        )
    events = [rules.announced(consent, case.jurisdiction, by=by, at=at)]
    if not consent.in_force:
        events += rules.told_to_agencies(consent, case.jurisdiction, case.case_number)
    work.uow.stage(events, case_id=case.id, cause=None)
    action = f"consent_{'withdrawn' if not consent.in_force else consent.kind.value}"
    await save_notes(
        work.tx,
        t.notes,
        cipher,
        [written(note, case_id=case.id, action=action, by=by, at=at, about=consent.id)],
    )
    return _state(case.id, await consents_of(work.tx, case.id))


@router.get(
    "/v1/cases/{case_id}/consent",
    response_model=CaseConsent,
    responses=answers(404),
    summary="A case's consent and assent: every record and whom the child's details may be shared with now",
)
async def case_consent(
    case_id: uuid.UUID,
    principal: Annotated[Principal, Depends(ConsentKeepers)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
) -> CaseConsent:
    async with ctx.sessions() as session:
        await _case(session, principal, case_id)
        return _state(case_id, await consents_of(session, case_id))


@router.post(
    "/v1/cases/{case_id}/consents",
    response_model=CaseConsent,
    status_code=201,
    responses=answers(404, 413, described={404: NO_SUCH_CASE}),
    summary="Record the guardian's consent or the child's (an assent under 15) to share with named kinds",
)
async def give_consent(
    case_id: uuid.UUID,
    body: ConsentGiven,
    principal: Annotated[Principal, Depends(ConsentKeepers)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
) -> CaseConsent:
    now = datetime.now(UTC)
    async with ctx.unit_of_work() as work:
        case = await _case(work.tx, principal, case_id, lock=True)
        age = None
        if body.given_by is ConsentGiver.child:
            child = (
                await work.tx.execute(
                    select(t.children.c.id, t.children.c.identity).where(t.children.c.id == case.child_id)
                )
            ).one()
            age = _child_age(ctx, child, now.astimezone(CHINA_STANDARD_TIME).date())
        consent = rules.given(
            case_id=case_id,
            given_by=body.given_by,
            way=body.way,
            parties=body.parties,
            given_on=body.given_on,
            age=age,
            by=principal.subject,
            at=now,
        )
        return await _changed(
            work, ctx.resources.cipher, consent, case, by=principal.subject, at=now, note=body.note
        )


@router.post(
    "/v1/cases/{case_id}/consent-overrides",
    response_model=CaseConsent,
    status_code=201,
    responses=answers(404, 413, described={404: NO_SUCH_CASE}),
    summary="A supervisor shares the child's details without consent, with a reason (on the ledger)",
)
async def override_consent(
    case_id: uuid.UUID,
    body: ConsentOverride,
    principal: Annotated[Principal, Depends(Overriders)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
) -> CaseConsent:
    now = datetime.now(UTC)
    note_required(body.note, "an override says why, in words")
    async with ctx.unit_of_work() as work:
        case = await _case(work.tx, principal, case_id, lock=True)
        consent = rules.overridden(
            case_id=case_id,
            reason=body.reason,
            parties=body.parties,
            on=now.astimezone(CHINA_STANDARD_TIME).date(),
            by=principal.subject,
            at=now,
        )
        return await _changed(
            work, ctx.resources.cipher, consent, case, by=principal.subject, at=now, note=body.note
        )


@router.post(
    "/v1/consents/{consent_id}/withdrawal",
    response_model=CaseConsent,
    responses=answers(
        404,
        409,
        413,
        described={404: NO_SUCH_CONSENT, 409: "withdrawn already, or the day is before it was given"},
    ),
    summary="Withdraw a consent, an assent or an override: every agency it named is told, and refused its "
    "next read",
)
async def withdraw_consent(
    consent_id: uuid.UUID,
    body: ConsentWithdrawal,
    principal: Annotated[Principal, Depends(ConsentKeepers)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
) -> CaseConsent:
    now = datetime.now(UTC)
    async with ctx.unit_of_work() as work:
        row = (
            await work.tx.execute(select(t.consents).where(t.consents.c.id == consent_id).with_for_update())
        ).first()
        if row is None:
            raise HTTPException(status_code=404, detail=NO_SUCH_CONSENT)
        case = await _case(work.tx, principal, row.case_id)
        consent = consent_of(row)
        if consent.kind is ConsentKind.override and principal.role is not Role.supervisor:
            raise HTTPException(
                status_code=403, detail="a supervisor's override is withdrawn by a supervisor"
            )
        try:
            ended = rules.withdrawn(
                consent,
                on=body.withdrawn_on or now.astimezone(CHINA_STANDARD_TIME).date(),
                by=principal.subject,
                at=now,
            )
        except rules.ConsentRefused as refused:
            raise HTTPException(status_code=409, detail=str(refused)) from None
        return await _changed(
            work, ctx.resources.cipher, ended, case, by=principal.subject, at=now, note=body.note
        )


def _row(consent: rules.Consent) -> dict:
    row = row_of(consent)
    row["parties"] = [p.value for p in consent.parties]
    return row
