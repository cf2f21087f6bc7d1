"""The providers a territory purchases services from (政府购买服务) and how they answer for them (监管评估):
the registry in pages, a provider with each contract's scorecard — units delivered against purchased,
the share delivered on time, outcomes, the families' satisfaction — and the forms a supervisor registers
a provider and records a contract with."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.navigation import PROVIDERS
from services.console.pages import (
    ConsoleDep,
    Person,
    ServiceAnswer,
    act,
    call,
    checked_form,
    language_of,
    list_page,
    note_of,
    render,
    require_page,
)
from services.console.spreadsheets import XLSX, scorecard_workbook
from shared.auth import SUPERVISORS
from shared.contracts.vocabulary import Agency, ComplaintFinding, ProviderKind, Role, ServiceKind

router = APIRouter()
PAGE_SIZE = 25


def _registers(person) -> bool:
    """Who keeps the registry: a supervisor for their territory, an operator for the whole network."""
    return person.principal.role in SUPERVISORS or person.principal.role == Role.operator


@router.get(PROVIDERS.path, response_class=HTMLResponse)
async def providers_page(
    request: Request,
    console: ConsoleDep,
    person: Person,
    kind: str = "",
    offset: int = Query(0, ge=0),
    problem: str | None = None,
) -> Response:
    require_page(person, PROVIDERS)
    kind = kind if kind in ServiceKind.__members__ else ""
    query = {"kind": kind} if kind else {}
    found = await list_page(
        console, person, "referral", "/v1/providers", query, offset=offset, size=PAGE_SIZE
    )
    return render(
        console,
        request,
        "providers.html",
        person=person,
        providers=found.items,
        total=found.total,
        offset=offset,
        shown=len(found.items),
        pages=found.pages,
        filters={"kind": kind},
        keep=urlencode(query),
        problem=problem,
        registers=_registers(person),
        provider_kinds=list(ProviderKind),
        service_kinds=list(ServiceKind),
        agencies=list(Agency),
        territory=person.principal.jurisdiction,
    )


@router.post(PROVIDERS.path)
async def register(request: Request, console: ConsoleDep, person: Person) -> Response:
    require_page(person, PROVIDERS)
    form = await checked_form(request, person)
    body = {
        "name": str(form.get("name") or "").strip(),
        "kind": form.get("kind") or None,
        "agency": form.get("agency") or None,
        "territory": str(form.get("territory") or "").strip(),
        "kinds": form.getlist("kinds"),
        "contact": str(form.get("contact") or "").strip() or None,
    }
    return await act(console, person, PROVIDERS.path, "referral", "/v1/providers", body)


@router.get(PROVIDERS.path + "/{provider_id}", response_class=HTMLResponse)
async def provider_page(
    request: Request, console: ConsoleDep, person: Person, provider_id: uuid.UUID, problem: str | None = None
) -> Response:
    require_page(person, PROVIDERS)
    try:
        provider = await call(console, person, "referral", "GET", f"/v1/providers/{provider_id}")
    except ServiceAnswer as exc:
        if exc.status_code != 404:
            raise
        return RedirectResponse(PROVIDERS.path, status_code=303)
    contracts = await call(console, person, "referral", "GET", f"/v1/providers/{provider_id}/contracts")
    complaints = await call(
        console, person, "referral", "GET", "/v1/complaints", params={"provider_id": str(provider_id)}
    )
    cards = {}
    for contract in contracts:
        try:
            cards[contract["contract_id"]] = await call(
                console, person, "referral", "GET", f"/v1/contracts/{contract['contract_id']}/scorecard"
            )
        except ServiceAnswer:
            continue  # a contract of a territory beyond the person's: listed, not scored
    return render(
        console,
        request,
        "provider.html",
        person=person,
        provider=provider,
        contracts=contracts,
        cards=cards,
        complaints=complaints,
        complaint_findings=list(ComplaintFinding),
        finds=person.principal.role in SUPERVISORS,
        problem=problem,
        registers=_registers(person),
        territory=person.principal.jurisdiction,
    )


@router.get(PROVIDERS.path + "/{provider_id}/contracts/{contract_id}/scorecard.xlsx")
async def scorecard_download(
    request: Request, console: ConsoleDep, person: Person, provider_id: uuid.UUID, contract_id: uuid.UUID
) -> Response:
    """The contract's scorecard as a spreadsheet, in the person's language: counts only, no child named."""
    require_page(person, PROVIDERS)
    provider = await call(console, person, "referral", "GET", f"/v1/providers/{provider_id}")
    card = await call(console, person, "referral", "GET", f"/v1/contracts/{contract_id}/scorecard")
    if card["contract"]["provider_id"] != str(provider_id):
        return RedirectResponse(f"{PROVIDERS.path}/{provider_id}", status_code=303)
    body = scorecard_workbook(language_of(console, request), provider, card["contract"], card)
    return Response(
        body,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="scorecard-{contract_id}.xlsx"'},
    )


@router.post(PROVIDERS.path + "/{provider_id}/complaints/{complaint_id}")
async def find_complaint(
    request: Request, console: ConsoleDep, person: Person, provider_id: uuid.UUID, complaint_id: uuid.UUID
) -> Response:
    """A supervisor's finding on a complaint about the provider's service, with why."""
    require_page(person, PROVIDERS)
    form = await checked_form(request, person)
    body = {"finding": form.get("finding") or None, "note": note_of(form)}
    page = f"{PROVIDERS.path}/{provider_id}"
    return await act(console, person, page, "referral", f"/v1/complaints/{complaint_id}/handling", body)


@router.post(PROVIDERS.path + "/{provider_id}/contracts")
async def record_contract(
    request: Request, console: ConsoleDep, person: Person, provider_id: uuid.UUID
) -> Response:
    require_page(person, PROVIDERS)
    form = await checked_form(request, person)
    units = {}
    for kind in ServiceKind:
        typed = str(form.get(f"units_{kind.value}") or "").strip()
        if typed:
            units[kind.value] = int(typed) if typed.isdigit() else typed
    body = {
        "reference": str(form.get("reference") or "").strip(),
        "territory": str(form.get("territory") or "").strip(),
        "starts_on": form.get("starts_on") or None,
        "ends_on": form.get("ends_on") or None,
        "budget": str(form.get("budget") or "").strip() or None,
        "units": units,
    }
    page = f"{PROVIDERS.path}/{provider_id}"
    return await act(console, person, page, "referral", f"/v1/providers/{provider_id}/contracts", body)
