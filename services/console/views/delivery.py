"""A provider's page (承接机构): the services of cases' plans assigned to the worker's organisation —
overdue first, filtered and in pages — each accepted or started with a note, delivered a unit at a time
(a session, a month's allowance: its date and a note), and ended on a second page: delivered with how it
left the need, or not delivered with a reason."""

from __future__ import annotations

import uuid
from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.i18n import CITY_TIME
from services.console.navigation import DELIVERY
from services.console.pages import (
    ConsoleDep,
    Person,
    act,
    call,
    checked_form,
    list_page,
    note_of,
    render,
    require_page,
)
from shared.contracts.vocabulary import OPEN_SERVICE_STATES, ServiceOutcome

router = APIRouter()
# Why a provider could not deliver a service.
NOT_DELIVERED_REASONS = ("family_refused", "child_not_found", "child_moved_away", "beyond_our_contract")
PAGE_SIZE = 25


@router.get(DELIVERY.path, response_class=HTMLResponse)
async def services_page(
    request: Request,
    console: ConsoleDep,
    person: Person,
    show: str = "waiting",
    overdue: bool = False,
    number: str = "",
    offset: int = Query(0, ge=0),
    problem: str | None = None,
) -> Response:
    require_page(person, DELIVERY)
    number = number.strip()
    filters = {
        "show": show,
        **({"overdue": "on"} if overdue else {}),
        **({"number": number} if number else {}),
    }
    query = {
        **({"waiting": "true"} if show != "all" else {}),
        **({"overdue": "true"} if overdue else {}),
        **({"number": number} if number else {}),
    }
    found = await list_page(console, person, "referral", "/v1/services", query, offset=offset, size=PAGE_SIZE)
    return render(
        console,
        request,
        "delivery.html",
        person=person,
        services=found.items,
        problem=found.problem or problem,
        total=found.total,
        offset=offset,
        shown=len(found.items),
        filters=filters,
        keep=urlencode(filters),
        pages=found.pages,
        open_states=OPEN_SERVICE_STATES,
        today=datetime.now(CITY_TIME).date().isoformat(),
    )


@router.post(DELIVERY.path + "/{service_id}")
async def progress(request: Request, console: ConsoleDep, person: Person, service_id: uuid.UUID) -> Response:
    """Accept or start, with a note."""
    require_page(person, DELIVERY)
    form = await checked_form(request, person)
    action = form.get("action")
    if action not in ("accept", "start"):
        return Response(status_code=404)
    body = {"action": action, "note": note_of(form)}
    return await act(console, person, DELIVERY.path, "referral", f"/v1/services/{service_id}/progress", body)


@router.post(DELIVERY.path + "/{service_id}/unit")
async def unit(request: Request, console: ConsoleDep, person: Person, service_id: uuid.UUID) -> Response:
    """One unit delivered: its day and a note."""
    require_page(person, DELIVERY)
    form = await checked_form(request, person)
    body = {"delivered_on": str(form.get("delivered_on") or ""), "note": note_of(form)}
    return await act(console, person, DELIVERY.path, "referral", f"/v1/services/{service_id}/units", body)


@router.get(DELIVERY.path + "/{service_id}/end", response_class=HTMLResponse)
async def end_page(
    request: Request, console: ConsoleDep, person: Person, service_id: uuid.UUID, problem: str | None = None
) -> Response:
    require_page(person, DELIVERY)
    service = await call(console, person, "referral", "GET", f"/v1/services/{service_id}")
    if "deliver" not in service["actions"] and problem is None:  # ended already: back to the list
        return RedirectResponse(DELIVERY.path, status_code=303)
    return render(
        console,
        request,
        "delivery_end.html",
        person=person,
        service=service,
        problem=problem,
        outcomes=list(ServiceOutcome),
        reasons=NOT_DELIVERED_REASONS,
    )


@router.post(DELIVERY.path + "/{service_id}/end")
async def end(request: Request, console: ConsoleDep, person: Person, service_id: uuid.UUID) -> Response:
    """Delivered, with how it left the need; or not delivered, with a reason."""
    require_page(person, DELIVERY)
    form = await checked_form(request, person)
    outcome = str(form.get("outcome") or "")
    if outcome == "not_delivered":
        body = {"action": "not_deliver", "reason": form.get("reason") or None, "note": note_of(form)}
    else:
        body = {"action": "deliver", "outcome": outcome or None, "note": note_of(form)}
    return await act(
        console,
        person,
        DELIVERY.path,
        "referral",
        f"/v1/services/{service_id}/progress",
        body,
        refused_to=f"{DELIVERY.path}/{service_id}/end",
    )
