"""The services' shell: load a service (locked), its case and provider, let
services/referral/provision.py decide, save the row, stage its event and seal the note — one
transaction per action; and the sweep that moves overdue services up the territory."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import and_, insert, select

from services.referral import provision
from services.referral import tables as t
from services.referral.decide import CaseRecord
from services.referral.provision import Planned, Provider, Service, ServiceAction, Step
from services.referral.refer import Resources
from services.referral.territory import below_the_top
from shared.contracts.events import ServiceChanged
from shared.contracts.vocabulary import OPEN_SERVICE_STATES, JudgementResult, LawsuitStep, ServiceOutcome
from shared.db.rows import upsert_rows
from shared.notes import save_notes, written
from shared.unit_of_work import Work

# A service still open this long after it moved up moves up again (one level a grace).
ESCALATION_GRACE = timedelta(days=3)


class NoSuchRecord(LookupError):
    """The case, provider or service named is not known here (404)."""


async def provider_of(session, provider_id: uuid.UUID) -> Provider | None:
    row = (await session.execute(select(t.providers).where(t.providers.c.id == provider_id))).first()
    return Provider.of_row(row) if row else None


async def _locked_service(session, service_id: uuid.UUID, allowed: Callable[[Service], bool]) -> Service:
    """The service, locked, when the caller may act on it; else NoSuchRecord (answered 404)."""
    row = (
        await session.execute(select(t.services).where(t.services.c.id == service_id).with_for_update())
    ).first()
    if row is None or not allowed(service := Service.of_row(row)):
        raise NoSuchRecord("no such service for you")
    return service


async def _saved(
    work: Work,
    res: Resources,
    service: Service,
    event: ServiceChanged,
    note: str | None,
    action: str,
    by: str,
) -> None:
    """The changed service saved, its event staged and the note it was changed with sealed."""
    await upsert_rows(work.tx, t.services, [service.as_row()])
    work.uow.stage([event], case_id=service.case_id, cause=None)
    await _with_note(work, res, service, note, action, by, event.changed_at)


async def _with_note(
    work: Work, res: Resources, service: Service, note: str | None, action: str, by: str, at: datetime
) -> None:
    await save_notes(
        work.tx,
        t.notes,
        res.cipher,
        [written(note, case_id=service.case_id, action=action, by=by, at=at, about=service.id)],
    )


async def plan_service(
    work: Work,
    res: Resources,
    *,
    case_id: uuid.UUID,
    asked: Planned,
    provider_id: uuid.UUID,
    by: str,
    note: str | None,
    visible: Callable[[str], bool],
) -> Service:
    """A new service of a graded case's plan; raises NoSuchRecord (the case unknown here or outside the
    caller's territory, the provider unknown) or provision.ServiceRefused."""
    session = work.tx
    row = (
        await session.execute(select(t.cases).where(t.cases.c.case_id == case_id).with_for_update())
    ).first()
    if row is None or not visible(row.jurisdiction):
        raise NoSuchRecord("no such case for you")
    case = CaseRecord.of_row(row)
    provider = await provider_of(session, provider_id)
    if provider is None:
        raise NoSuchRecord("no such provider")
    now = res.clock()
    service, event = provision.plan(
        case_id=case_id,
        case_needs=case.needs,
        jurisdiction=case.jurisdiction,
        risk_level=case.risk_level,
        case_number=case.case_number,
        asked=asked,
        provider=provider,
        by=by,
        now=now,
        new_id=res.new_id(),
    )
    await session.execute(insert(t.services), [service.as_row()])
    work.uow.stage([event], case_id=case_id, cause=None)
    await _with_note(work, res, service, note, "plan", by, now)
    return service


async def act_on_service(
    work: Work,
    res: Resources,
    service_id: uuid.UUID,
    action: ServiceAction,
    *,
    outcome: ServiceOutcome | None,
    reason: str | None,
    by: str,
    note: str | None,
    allowed: Callable[[Service], bool],
) -> Service:
    """The provider's answer; raises NoSuchRecord when `allowed` refuses the caller, IllegalTransition
    or ValueError as the lifecycle does."""
    service = await _locked_service(work.tx, service_id, allowed)
    now = res.clock()
    changed, event = provision.act(service, action, outcome=outcome, reason=reason, by=by, now=now)
    if event is not None:
        await _saved(work, res, changed, event, note, action, by)
    return changed


async def record_unit(
    work: Work,
    res: Resources,
    service_id: uuid.UUID,
    *,
    delivered_on: date,
    by: str,
    note: str | None,
    allowed: Callable[[Service], bool],
) -> Service:
    """One unit delivered, with its date and note (each unit is a row: a session recorded twice is two)."""
    service = await _locked_service(work.tx, service_id, allowed)
    now = res.clock()
    changed, event = provision.unit_delivered(service, by=by, now=now)
    await _saved(work, res, changed, event, note, "unit", by)
    await work.tx.execute(
        insert(t.service_units),
        [
            {
                "service_id": service_id,
                "number": changed.units_delivered,
                "delivered_on": delivered_on,
                "recorded_by": by,
                "recorded_at": now,
            }
        ],
    )
    return changed


async def record_step(
    work: Work,
    res: Resources,
    service_id: uuid.UUID,
    step: LawsuitStep,
    *,
    on: date,
    result: JudgementResult | None,
    by: str,
    note: str | None,
    allowed: Callable[[Service], bool],
) -> Service:
    """A lawsuit's next step, with its day (and the judgement's result) and a note."""
    service = await _locked_service(work.tx, service_id, allowed)
    found = await work.tx.execute(select(t.service_steps).where(t.service_steps.c.service_id == service_id))
    now = res.clock()
    changed, row, event = provision.step_taken(
        service, [Step.of_row(r) for r in found], step, on=on, result=result, by=by, now=now
    )
    await work.tx.execute(insert(t.service_steps), [row.as_row()])
    await _saved(work, res, changed, event, note, f"step_{step.value}", by)
    return changed


async def withdraw_service(
    work: Work,
    res: Resources,
    service_id: uuid.UUID,
    *,
    reason: str,
    by: str,
    note: str | None,
    allowed: Callable[[Service], bool],
) -> Service:
    service = await _locked_service(work.tx, service_id, allowed)
    now = res.clock()
    changed, event = provision.withdraw(service, reason, by=by, now=now)
    if event is not None:
        await _saved(work, res, changed, event, note, "withdrawal", by)
    return changed


async def escalate_overdue_services(work: Work, res: Resources, *, limit: int = 200) -> int:
    """Every open service whose time has come (past its due date, or a grace after its last move up)
    goes one level up the tree, its event staged on the sweep's unit of work; those at the city stay
    overdue on its list. Returns how many moved."""
    s = t.services.c
    now = res.clock()
    rows = (
        await work.tx.execute(
            select(t.services)
            .where(and_(s.state.in_(OPEN_SERVICE_STATES), s.escalate_at <= now, below_the_top(s.holder)))
            .order_by(s.escalate_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    moved = [provision.escalate(Service.of_row(row), now, ESCALATION_GRACE) for row in rows]
    moved = [m for m in moved if m is not None]
    await upsert_rows(work.tx, t.services, [service.as_row() for service, _ in moved])
    for _, event in moved:
        work.uow.stage([event], case_id=event.case_id, cause=None)
    return len(moved)
