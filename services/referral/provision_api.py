"""The help delivered, over HTTP: the registry of providers and their purchase contracts, the services
of a case's plan — planned by the case's side, accepted, delivered unit by unit and ended by the
provider's people, withdrawn by the case's side, rated by the family — and a contract's scorecard
(监管评估). Every action takes a note, sealed like the referrals' answers."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Date, and_, case, cast, func, insert, select

from services.referral import tables as t
from services.referral.api import PersonsWithdrawalReason
from services.referral.deliveries import (
    NoSuchRecord,
    act_on_service,
    plan_service,
    provider_of,
    record_step,
    record_unit,
    withdraw_service,
)
from services.referral.lifecycle import IllegalTransition
from services.referral.provision import (
    ALLOWED_FROM,
    LOCAL,
    Planned,
    ServiceAction,
    ServiceRefused,
    end_of,
)
from services.referral.refer import Resources
from shared.auth import CASE_SIDE, TERRITORY_PREFIX_PATTERN, Principal, Role, require_role
from shared.contracts.vocabulary import (
    CASE_NUMBER_PATTERN,
    OPEN_SERVICE_STATES,
    SERVICES_WITH_STEPS,
    Agency,
    ComplaintFinding,
    JudgementResult,
    LawsuitStep,
    PastDay,
    ProviderKind,
    ReasonCode,
    RiskLevel,
    ServiceKind,
    ServiceOutcome,
    ServiceState,
)
from shared.http import answers
from shared.notes import NoteText
from shared.service import ServiceContext, service_context
from shared.territory.code import in_subtree, node_of

Ctx = Annotated[ServiceContext[Resources], Depends(service_context)]
# Who keeps the registry: a supervisor for their territory, an operator for the whole network.
Registrars = require_role(Role.supervisor, Role.operator)
RegistryReaders = require_role(
    Role.caseworker, Role.supervisor, Role.operator, Role.auditor, Role.provider_worker, Role.agency_officer
)
CaseSide = require_role(*CASE_SIDE)
ProviderSide = require_role(Role.provider_worker, Role.agency_officer)
ServiceReaders = require_role(
    Role.caseworker, Role.supervisor, Role.operator, Role.auditor, Role.provider_worker, Role.agency_officer
)
NO_SUCH_SERVICE = "no such service for you"
NO_SUCH_PROVIDER = "no such provider for you"


# ---- providers and contracts -------------------------------------------------------------------

providers_router = APIRouter(prefix="/v1/providers", tags=["providers"])


class NewProvider(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="The organisation's or office's name")
    kind: ProviderKind
    agency: Agency | None = Field(
        default=None, description="An agency office's agency (whose officers record its services); only then"
    )
    territory: str = Field(
        pattern=TERRITORY_PREFIX_PATTERN, min_length=2, description="The node it serves: a territory prefix"
    )
    kinds: list[ServiceKind] = Field(min_length=1, max_length=len(ServiceKind))
    contact: str | None = Field(default=None, max_length=200, description="The office's telephone or address")

    @model_validator(mode="after")
    def _agency_for_an_office(self) -> NewProvider:
        if (self.kind == ProviderKind.agency_office) != (self.agency is not None):
            raise ValueError("agency is required for an agency_office, and only then")
        return self


class ProviderOut(BaseModel):
    provider_id: uuid.UUID
    name: str
    kind: ProviderKind
    agency: Agency | None
    territory: str
    kinds: list[ServiceKind]
    contact: str | None
    active: bool


def _provider_out(row) -> ProviderOut:
    return ProviderOut(
        provider_id=row.id,
        name=row.name,
        kind=row.kind,
        agency=row.agency,
        territory=row.territory,
        kinds=list(row.kinds),
        contact=row.contact,
        active=row.active,
    )


def _territory_refusal(principal: Principal, territory: str) -> None:
    if not principal.can_see(territory.ljust(12, "0")) or not territory.startswith(principal.jurisdiction):
        raise HTTPException(status_code=403, detail="outside your territory")


@providers_router.post(
    "",
    response_model=ProviderOut,
    status_code=201,
    responses=answers(403, 413),
    summary="Register a provider: an agency's office or a contracted organisation, the territory it "
    "serves and the service kinds it gives",
)
async def register_provider(
    body: NewProvider, principal: Annotated[Principal, Depends(Registrars)], ctx: Ctx
) -> ProviderOut:
    _territory_refusal(principal, body.territory)
    row = {
        "id": ctx.resources.new_id(),
        "name": body.name,
        "kind": body.kind.value,
        "agency": body.agency.value if body.agency else None,
        "territory": body.territory,
        "kinds": sorted(kind.value for kind in body.kinds),
        "contact": body.contact,
        "active": True,
        "created_at": ctx.resources.clock(),
    }
    async with ctx.sessions.begin() as session:
        await session.execute(insert(t.providers), [row])
        return _provider_out(
            (await session.execute(select(t.providers).where(t.providers.c.id == row["id"]))).one()
        )


def _serves(principal: Principal):
    """The providers a person may see: those serving a node of their territory or above it (a county's
    caseworker chooses among the county's, the city's and the province's); a provider's worker, their own."""
    p = t.providers.c
    if principal.provider is not None:
        return p.id == principal.provider
    if not principal.jurisdiction:
        return p.id.is_not(None)
    return func.starts_with(principal.jurisdiction, p.territory) | func.starts_with(
        p.territory, principal.jurisdiction
    )


@providers_router.get(
    "",
    response_model=list[ProviderOut],
    summary="Providers (for a case of a territory, giving a kind of service); the count in X-Total-Count",
)
async def list_providers(
    principal: Annotated[Principal, Depends(RegistryReaders)],
    ctx: Ctx,
    response: Response,
    kind: Annotated[ServiceKind | None, Query(description="giving this service kind")] = None,
    serving: Annotated[
        str | None, Query(pattern=r"^[0-9]{12}$", description="serving a case of this territory")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ProviderOut]:
    p = t.providers.c
    where = [_serves(principal), p.active]
    if kind:
        where.append(p.kinds.any(kind.value))
    if serving:
        where.append(func.starts_with(serving, p.territory))
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(t.providers).where(*where).order_by(p.name, p.id).offset(offset).limit(limit)
            )
        ).all()
        response.headers["X-Total-Count"] = str(
            await session.scalar(select(func.count()).select_from(t.providers).where(*where))
        )
    return [_provider_out(row) for row in rows]


@providers_router.get(
    "/{provider_id}", response_model=ProviderOut, responses=answers(404), summary="One provider"
)
async def get_provider(
    provider_id: uuid.UUID, principal: Annotated[Principal, Depends(RegistryReaders)], ctx: Ctx
) -> ProviderOut:
    async with ctx.sessions() as session:
        row = (
            await session.execute(
                select(t.providers).where(t.providers.c.id == provider_id, _serves(principal))
            )
        ).first()
    if row is None:
        raise HTTPException(status_code=404, detail=NO_SUCH_PROVIDER)
    return _provider_out(row)


class NewContract(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._/-]+$")
    territory: str = Field(
        pattern=TERRITORY_PREFIX_PATTERN, min_length=2, description="The node whose children it covers"
    )
    starts_on: date
    ends_on: date
    budget: Decimal = Field(ge=0, max_digits=14, decimal_places=2, description="yuan")
    units: dict[ServiceKind, Annotated[int, Field(ge=1, le=1_000_000)]] = Field(
        min_length=1, description="Units purchased per service kind"
    )

    @model_validator(mode="after")
    def _period(self) -> NewContract:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


class ContractOut(BaseModel):
    contract_id: uuid.UUID
    provider_id: uuid.UUID
    reference: str
    territory: str
    starts_on: date
    ends_on: date
    budget: Decimal
    units: dict[ServiceKind, int]


async def _contract_out(session, contract_id: uuid.UUID) -> ContractOut | None:
    row = (await session.execute(select(t.contracts).where(t.contracts.c.id == contract_id))).first()
    if row is None:
        return None
    units = (
        await session.execute(select(t.contract_units).where(t.contract_units.c.contract_id == contract_id))
    ).all()
    return ContractOut(
        contract_id=row.id,
        provider_id=row.provider_id,
        reference=row.reference,
        territory=row.territory,
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        budget=row.budget,
        units={u.kind: u.units for u in units},
    )


@providers_router.post(
    "/{provider_id}/contracts",
    response_model=ContractOut,
    status_code=201,
    responses=answers(403, 404, 409, 413),
    summary="Record a government purchase contract of a provider: its period, territory, budget and "
    "the units purchased of each service kind",
)
async def record_contract(
    provider_id: uuid.UUID,
    body: NewContract,
    principal: Annotated[Principal, Depends(Registrars)],
    ctx: Ctx,
) -> ContractOut:
    _territory_refusal(principal, body.territory)
    contract_id = ctx.resources.new_id()
    async with ctx.sessions.begin() as session:
        provider = await provider_of(session, provider_id)
        if provider is None:
            raise HTTPException(status_code=404, detail=NO_SUCH_PROVIDER)
        foreign = sorted(kind.value for kind in body.units if kind.value not in provider.kinds)
        if foreign:
            raise HTTPException(status_code=409, detail=f"the provider does not give {', '.join(foreign)}")
        await session.execute(
            insert(t.contracts),
            [
                {
                    "id": contract_id,
                    "provider_id": provider_id,
                    "reference": body.reference,
                    "territory": body.territory,
                    "starts_on": body.starts_on,
                    "ends_on": body.ends_on,
                    "budget": body.budget,
                    "created_at": ctx.resources.clock(),
                    "created_by": principal.subject,
                }
            ],
        )
        await session.execute(
            insert(t.contract_units),
            [{"contract_id": contract_id, "kind": kind.value, "units": n} for kind, n in body.units.items()],
        )
        return await _contract_out(session, contract_id)


@providers_router.get(
    "/{provider_id}/contracts",
    response_model=list[ContractOut],
    responses=answers(404),
    summary="A provider's contracts, the latest first",
)
async def list_contracts(
    provider_id: uuid.UUID, principal: Annotated[Principal, Depends(RegistryReaders)], ctx: Ctx
) -> list[ContractOut]:
    async with ctx.sessions() as session:
        visible = await session.scalar(
            select(func.count()).where(t.providers.c.id == provider_id, _serves(principal))
        )
        if not visible:
            raise HTTPException(status_code=404, detail=NO_SUCH_PROVIDER)
        ids = (
            await session.scalars(
                select(t.contracts.c.id)
                .where(t.contracts.c.provider_id == provider_id)
                .order_by(t.contracts.c.starts_on.desc(), t.contracts.c.id)
            )
        ).all()
        return [await _contract_out(session, contract_id) for contract_id in ids]


# ---- a contract's scorecard ------------------------------------------------------------------------


def _local_day(moment):
    """The day a moment fell on in China Standard Time, where contracts and due dates are kept."""
    return cast(func.timezone(LOCAL.key, moment), Date)


contracts_router = APIRouter(prefix="/v1/contracts", tags=["providers"])
Evaluators = require_role(Role.supervisor, Role.operator, Role.auditor)


class KindScore(BaseModel):
    kind: ServiceKind
    purchased: int = Field(description="Units the contract purchased")
    delivered: int = Field(description="Units delivered within its period and territory")


class Scorecard(BaseModel):
    contract: ContractOut
    provider_name: str
    units: list[KindScore]
    services_due: int = Field(description="Services of the contract's kinds due within its period so far")
    delivered_on_time: int = Field(description="Of those, delivered on or before their due date")
    on_time_share: float | None = Field(
        description="delivered_on_time ÷ services_due; null when none was due"
    )
    outcomes: dict[ServiceOutcome, int] = Field(description="Delivered services by how they left the need")
    not_delivered: int
    feedback_count: int
    mean_satisfaction: float | None = Field(description="1 (very unsatisfied) … 5 (very satisfied)")
    complaints: dict[str, int] = Field(
        default_factory=dict,
        description="Complaints made within the period about its services: received, upheld, not_upheld, "
        "open",
    )


@contracts_router.get(
    "/{contract_id}/scorecard",
    response_model=Scorecard,
    responses=answers(404),
    summary="What a contract purchased against what was delivered: units per kind, the share delivered "
    "on time, outcomes and the families' satisfaction (监管评估)",
)
async def scorecard(
    contract_id: uuid.UUID, principal: Annotated[Principal, Depends(Evaluators)], ctx: Ctx
) -> Scorecard:
    async with ctx.sessions() as session:
        contract = await _contract_out(session, contract_id)
        if contract is None or not (
            contract.territory.startswith(principal.jurisdiction)
            or principal.jurisdiction.startswith(contract.territory)
        ):
            raise HTTPException(status_code=404, detail="no such contract for you")
        provider = await provider_of(session, contract.provider_id)
        s, u, f = t.services.c, t.service_units.c, t.feedback.c
        kinds = [kind.value for kind in contract.units]
        covered = and_(
            s.provider_id == contract.provider_id,
            s.kind.in_(kinds),
            func.starts_with(s.jurisdiction, contract.territory),
        )
        delivered_units = dict(
            (
                await session.execute(
                    select(s.kind, func.count())
                    .select_from(t.service_units.join(t.services, s.id == u.service_id))
                    .where(covered, u.delivered_on.between(contract.starts_on, contract.ends_on))
                    .group_by(s.kind)
                )
            ).all()
        )
        today = ctx.resources.clock().astimezone(LOCAL).date()
        ended_on = _local_day(s.ended_at)
        finished = s.state.in_([ServiceState.delivered.value, ServiceState.not_delivered.value])
        # Due within the period: ended already, or its due date has passed (one still open is late).
        in_period = and_(
            covered, s.due_on.between(contract.starts_on, contract.ends_on), finished | (s.due_on < today)
        )
        on_time = and_(s.state == ServiceState.delivered.value, ended_on <= s.due_on)
        due, in_time = (
            await session.execute(select(func.count(), func.count().filter(on_time)).where(in_period))
        ).one()
        how = func.coalesce(s.outcome, s.state)
        ended = dict(
            (
                await session.execute(
                    select(how, func.count())
                    .where(covered, finished, ended_on.between(contract.starts_on, contract.ends_on))
                    .group_by(how)
                )
            ).all()
        )
        count, mean = (
            await session.execute(
                select(func.count(), func.avg(f.satisfaction))
                .select_from(t.feedback.join(t.services, s.id == f.service_id))
                .where(covered, _local_day(f.recorded_at).between(contract.starts_on, contract.ends_on))
            )
        ).one()
        c = t.complaints.c
        received, upheld, not_upheld = (
            await session.execute(
                select(
                    func.count(),
                    func.count().filter(c.finding == ComplaintFinding.upheld.value),
                    func.count().filter(c.finding == ComplaintFinding.not_upheld.value),
                )
                .select_from(t.complaints.join(t.services, s.id == c.service_id))
                .where(covered, c.received_on.between(contract.starts_on, contract.ends_on))
            )
        ).one()
    return Scorecard(
        contract=contract,
        provider_name=provider.name,
        units=[
            KindScore(kind=kind, purchased=n, delivered=delivered_units.get(kind.value, 0))
            for kind, n in sorted(contract.units.items())
        ],
        services_due=due,
        delivered_on_time=in_time,
        on_time_share=round(in_time / due, 4) if due else None,
        outcomes={outcome: ended.get(outcome.value, 0) for outcome in ServiceOutcome},
        not_delivered=ended.get(ServiceState.not_delivered.value, 0),
        feedback_count=count,
        mean_satisfaction=round(float(mean), 2) if mean is not None else None,
        complaints={
            "received": received,
            "upheld": upheld,
            "not_upheld": not_upheld,
            "open": received - upheld - not_upheld,
        },
    )


# ---- the services of a case's plan ---------------------------------------------------------------

services_router = APIRouter(prefix="/v1/services", tags=["services"])
case_services_router = APIRouter(prefix="/v1/cases", tags=["services"])


class StepOut(BaseModel):
    step: LawsuitStep
    on: date
    result: JudgementResult | None


class ServiceOut(BaseModel):
    service_id: uuid.UUID
    case_id: uuid.UUID
    case_number: str | None
    kind: ServiceKind
    need: str
    provider_id: uuid.UUID
    provider_name: str
    provider_kind: ProviderKind
    state: ServiceState
    outcome: ServiceOutcome | None
    reason: str | None
    risk_level: RiskLevel
    jurisdiction: str
    holder: str = Field(description="The node answerable now: the case's, then each level up once overdue")
    escalations: int
    due_on: date
    overdue: bool = Field(description="Still open after its due date")
    units_planned: int | None
    units_delivered: int
    created_at: datetime
    ended_at: datetime | None
    actions: list[str] = Field(
        description="What the caller may do now: accept, start, unit, deliver, not_deliver (the "
        "provider's people); withdraw, feedback (the case's side); step (either, a lawsuit's next step)"
    )
    steps: list[StepOut] = Field(default_factory=list, description="A lawsuit's steps so far, in order")


def with_provider():
    return select(
        t.services, t.providers.c.name.label("provider_name"), t.providers.c.agency.label("provider_agency")
    ).join(t.providers, t.providers.c.id == t.services.c.provider_id)


def _provider_side(principal: Principal, row) -> bool:
    """The provider's own people: its workers, or an agency office's officers where the case is."""
    if principal.role == Role.provider_worker:
        return principal.provider == row.provider_id
    if principal.role == Role.agency_officer:
        return row.provider_agency == principal.agency and principal.can_see(row.jurisdiction)
    return False


def visible_to(principal: Principal, row) -> bool:
    if principal.role in (Role.provider_worker, Role.agency_officer):
        return _provider_side(principal, row)
    return principal.can_see(row.jurisdiction)


def _case_side(principal: Principal, row) -> bool:
    return principal.role in CASE_SIDE and principal.can_see(row.jurisdiction)


def _actions(principal: Principal, row, steps: list[StepOut]) -> list[str]:
    state = ServiceState(row.state)
    owed = state in OPEN_SERVICE_STATES
    step = ["step"] if owed and row.kind in SERVICES_WITH_STEPS and len(steps) < len(LawsuitStep) else []
    if _provider_side(principal, row):
        offered = [action for action, allowed in ALLOWED_FROM.items() if state in allowed]
        return [*offered[:2], "unit", *offered[2:], *step] if owed else []
    if _case_side(principal, row):
        return (["withdraw", *step] if owed else []) + ["feedback"]
    return []


def _service_out(row, principal: Principal, now: datetime, steps: list[StepOut]) -> ServiceOut:
    return ServiceOut(
        service_id=row.id,
        overdue=row.state in OPEN_SERVICE_STATES and end_of(row.due_on) <= now,
        actions=_actions(principal, row, steps),
        steps=steps,
        **{
            k: getattr(row, k)
            for k in ServiceOut.model_fields
            if k not in ("service_id", "overdue", "actions", "steps")
        },
    )


async def _steps_of(session, rows) -> dict[uuid.UUID, list[StepOut]]:
    """The steps of the lawsuits among `rows`, in the court's order: one query."""
    ids = [row.id for row in rows if row.kind in SERVICES_WITH_STEPS]
    if not ids:
        return {}
    order = list(LawsuitStep)
    found: dict[uuid.UUID, list[StepOut]] = {}
    for r in await session.execute(select(t.service_steps).where(t.service_steps.c.service_id.in_(ids))):
        found.setdefault(r.service_id, []).append(StepOut(step=r.step, on=r.on, result=r.result))
    return {i: sorted(steps, key=lambda s: order.index(s.step)) for i, steps in found.items()}


async def _one(ctx: ServiceContext, service_id: uuid.UUID, principal: Principal) -> ServiceOut:
    async with ctx.sessions() as session:
        row = (await session.execute(with_provider().where(t.services.c.id == service_id))).first()
        if row is None or not visible_to(principal, row):
            raise HTTPException(status_code=404, detail=NO_SUCH_SERVICE)
        steps = await _steps_of(session, [row])
    return _service_out(row, principal, ctx.resources.clock(), steps.get(row.id, []))


class NewService(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ServiceKind = Field(description="What is given; its need must be on the case's plan")
    provider_id: uuid.UUID
    due_on: date = Field(description="The day by which it is to be delivered (China Standard Time)")
    units_planned: int | None = Field(default=None, ge=1, le=1000, description="e.g. six sessions")
    note: NoteText = None


@case_services_router.post(
    "/{case_id}/services",
    response_model=ServiceOut,
    status_code=201,
    responses=answers(
        404, 409, 413, described={409: "the plan names no such need, or the provider cannot give it"}
    ),
    summary="Plan a service of the case's assistance plan for a provider, due by a date",
)
async def plan_a_service(
    case_id: uuid.UUID, body: NewService, principal: Annotated[Principal, Depends(CaseSide)], ctx: Ctx
) -> ServiceOut:
    asked = Planned(kind=body.kind, due_on=body.due_on, units_planned=body.units_planned)
    try:
        async with ctx.unit_of_work() as work:
            service = await plan_service(
                work,
                ctx.resources,
                case_id=case_id,
                asked=asked,
                provider_id=body.provider_id,
                by=principal.subject,
                note=body.note,
                visible=principal.can_see,
            )
    except NoSuchRecord as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except ServiceRefused as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return await _one(ctx, service.id, principal)


@services_router.get(
    "",
    response_model=list[ServiceOut],
    summary="Services by case, provider, state, territory; overdue first, then the earliest due; in pages, "
    "the count in X-Total-Count. A provider's people see their provider's alone",
)
async def list_services(
    principal: Annotated[Principal, Depends(ServiceReaders)],
    ctx: Ctx,
    response: Response,
    case_id: uuid.UUID | None = None,
    provider_id: uuid.UUID | None = None,
    state: ServiceState | None = None,
    kind: ServiceKind | None = None,
    number: Annotated[str | None, Query(pattern=CASE_NUMBER_PATTERN, description="a case's number")] = None,
    jurisdiction: Annotated[str | None, Query(pattern=TERRITORY_PREFIX_PATTERN)] = None,
    waiting: Annotated[bool | None, Query(description="still open (planned, accepted, in progress)")] = None,
    overdue: Annotated[bool | None, Query(description="still open after its due date")] = None,
    held_here: Annotated[
        bool | None,
        Query(description="escalated to your own node: left overdue, it climbed to your level and is yours"),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ServiceOut]:
    s, p = t.services.c, t.providers.c
    now = ctx.resources.clock()
    today = now.astimezone(LOCAL).date()
    late = s.state.in_(OPEN_SERVICE_STATES) & (s.due_on < today)
    where = []
    if principal.role == Role.provider_worker:
        where.append(s.provider_id == principal.provider)
    elif principal.role == Role.agency_officer:
        where.append(p.agency == principal.agency.value)
    where += [
        in_subtree(s.jurisdiction, prefix) for prefix in filter(None, (principal.jurisdiction, jurisdiction))
    ]
    for column, value in ((s.case_id, case_id), (s.provider_id, provider_id), (s.case_number, number)):
        if value is not None:
            where.append(column == value)
    if state:
        where.append(s.state == state.value)
    if kind:
        where.append(s.kind == kind.value)
    if waiting is not None:
        where.append(s.state.in_(OPEN_SERVICE_STATES) if waiting else s.state.not_in(OPEN_SERVICE_STATES))
    if overdue is not None:
        where.append(late if overdue else ~late)
    if held_here:
        where += [
            s.escalations > 0,
            s.holder == node_of(principal.jurisdiction),
        ]
    query = with_provider().where(*where).order_by(case((late, 0), else_=1), s.due_on, s.id)
    async with ctx.sessions() as session:
        rows = (await session.execute(query.offset(offset).limit(limit))).all()
        steps = await _steps_of(session, rows)
        response.headers["X-Total-Count"] = str(
            await session.scalar(
                select(func.count())
                .select_from(t.services.join(t.providers, p.id == s.provider_id))
                .where(*where)
            )
        )
    return [_service_out(row, principal, now, steps.get(row.id, [])) for row in rows]


@services_router.get(
    "/{service_id}", response_model=ServiceOut, responses=answers(404), summary="One service"
)
async def get_service(
    service_id: uuid.UUID, principal: Annotated[Principal, Depends(ServiceReaders)], ctx: Ctx
) -> ServiceOut:
    return await _one(ctx, service_id, principal)


class Progress(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["accept", "start", "deliver", "not_deliver"]
    outcome: ServiceOutcome | None = Field(default=None, description="Required to deliver, and only then")
    reason: ReasonCode | None = Field(default=None, description="Required for not_deliver")
    note: NoteText = None

    @model_validator(mode="after")
    def _ending_says_how(self) -> Progress:
        if (self.action == "deliver") != (self.outcome is not None):
            raise ValueError("outcome is required to deliver, and only then")
        if self.action == "not_deliver" and self.reason is None:
            raise ValueError("reason is required for not_deliver")
        return self


async def _acting(ctx: Ctx, principal: Principal, service_id: uuid.UUID, act) -> ServiceOut:
    """One action in its own unit of work; the answers every action shares (404, 409)."""

    async with ctx.sessions() as session:
        row = (await session.execute(with_provider().where(t.services.c.id == service_id))).first()
    if row is None or not visible_to(principal, row):
        raise HTTPException(status_code=404, detail=NO_SUCH_SERVICE)
    try:
        async with ctx.unit_of_work() as work:
            await act(work, row)
    except NoSuchRecord:
        raise HTTPException(status_code=404, detail=NO_SUCH_SERVICE) from None
    except IllegalTransition as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return await _one(ctx, service_id, principal)


def _as_provider(principal: Principal, row):
    """The service's provider's own people alone act on it (the row read before the lock: who the
    provider is never changes)."""
    return lambda service: _provider_side(principal, row)


def _as_case_side(principal: Principal):
    return lambda service: principal.can_see(service.jurisdiction)


class NewStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: LawsuitStep = Field(description="The next step, in the court's order")
    on: PastDay = Field(description="Its day (never in the future, never before the step before it)")
    result: JudgementResult | None = Field(default=None, description="With the judgement, and only then")
    note: NoteText = None


@services_router.post(
    "/{service_id}/steps",
    response_model=ServiceOut,
    responses=answers(404, 409, 413, described={409: "not the next step, or no steps, or ended"}),
    summary="A guardianship-transfer lawsuit's next step (application, acceptance by the court, hearing, "
    "judgement) with its day, by the provider's people or the case's side",
)
async def record_a_step(
    service_id: uuid.UUID, body: NewStep, principal: Annotated[Principal, Depends(ServiceReaders)], ctx: Ctx
) -> ServiceOut:
    async def act(work, row):
        try:
            await record_step(
                work,
                ctx.resources,
                service_id,
                body.step,
                on=body.on,
                result=body.result,
                by=principal.subject,
                note=body.note,
                allowed=lambda service: _provider_side(principal, row) or _case_side(principal, row),
            )
        except IllegalTransition:
            raise  # a 409, as every action's (it is a ValueError too)
        except ValueError as exc:
            field = "on" if "before" in str(exc) else "result"
            problem = {"loc": ["body", field], "msg": str(exc), "type": "value_error"}
            raise HTTPException(status_code=422, detail=[problem]) from None

    return await _acting(ctx, principal, service_id, act)


@services_router.post(
    "/{service_id}/progress",
    response_model=ServiceOut,
    responses=answers(404, 409, 413, described={409: "not allowed from the service's state"}),
    summary="The provider accepts, starts, delivers (with an outcome) or does not deliver (with a reason)",
)
async def progress_service(
    service_id: uuid.UUID, body: Progress, principal: Annotated[Principal, Depends(ProviderSide)], ctx: Ctx
) -> ServiceOut:
    action: ServiceAction = body.action

    async def act(work, row):
        await act_on_service(
            work,
            ctx.resources,
            service_id,
            action,
            outcome=body.outcome,
            reason=body.reason,
            by=principal.subject,
            note=body.note,
            allowed=_as_provider(principal, row),
        )

    return await _acting(ctx, principal, service_id, act)


class Unit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delivered_on: PastDay = Field(description="The day it was given (never in the future)")
    note: NoteText = None


@services_router.post(
    "/{service_id}/units",
    response_model=ServiceOut,
    responses=answers(404, 409, 413, described={409: "the service has ended"}),
    summary="One unit of the service delivered (a session, a month's allowance), with its date",
)
async def record_a_unit(
    service_id: uuid.UUID, body: Unit, principal: Annotated[Principal, Depends(ProviderSide)], ctx: Ctx
) -> ServiceOut:
    async def act(work, row):
        await record_unit(
            work,
            ctx.resources,
            service_id,
            delivered_on=body.delivered_on,
            by=principal.subject,
            note=body.note,
            allowed=_as_provider(principal, row),
        )

    return await _acting(ctx, principal, service_id, act)


class ServiceWithdrawal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: PersonsWithdrawalReason  # type: ignore[valid-type]
    note: NoteText = None


@services_router.post(
    "/{service_id}/withdrawal",
    response_model=ServiceOut,
    responses=answers(404, 409, 413, described={409: "the service has ended"}),
    summary="The case's side withdraws a service not yet delivered, with a reason",
)
async def withdraw_a_service(
    service_id: uuid.UUID,
    body: ServiceWithdrawal,
    principal: Annotated[Principal, Depends(CaseSide)],
    ctx: Ctx,
) -> ServiceOut:
    async def act(work, row):
        await withdraw_service(
            work,
            ctx.resources,
            service_id,
            reason=str(body.reason),
            by=principal.subject,
            note=body.note,
            allowed=_as_case_side(principal),
        )

    return await _acting(ctx, principal, service_id, act)


class Feedback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    satisfaction: int = Field(ge=1, le=5, description="1 (very unsatisfied) … 5 (very satisfied)")
    given_by: Literal["family", "caseworker"] = Field(description="Whose judgement it is")


@services_router.post(
    "/{service_id}/feedback",
    response_model=ServiceOut,
    status_code=201,
    responses=answers(404, 413),
    summary="The family's satisfaction with a service (服务对象满意度), entered by the caseworker",
)
async def record_feedback(
    service_id: uuid.UUID, body: Feedback, principal: Annotated[Principal, Depends(CaseSide)], ctx: Ctx
) -> ServiceOut:
    async with ctx.sessions.begin() as session:
        row = (await session.execute(with_provider().where(t.services.c.id == service_id))).first()
        if row is None or not visible_to(principal, row):
            raise HTTPException(status_code=404, detail=NO_SUCH_SERVICE)
        await session.execute(
            insert(t.feedback),
            [
                {
                    "id": ctx.resources.new_id(),
                    "service_id": service_id,
                    "satisfaction": body.satisfaction,
                    "given_by": body.given_by,
                    "recorded_by": principal.subject,
                    "recorded_at": ctx.resources.clock(),
                }
            ],
        )
    return await _one(ctx, service_id, principal)


ROUTERS = (providers_router, contracts_router, services_router, case_services_router)
