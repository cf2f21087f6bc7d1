"""A supervisor's page (监管): the services of cases' plans left overdue until they climbed the territory to
the supervisor's own level — township, county, city — with the case, the provider, the day it was due and
how often it climbed; each case a link, where the supervisor acts (withdraw it, plan another provider). Below
them, a joint meeting's action items that climbed the same way, with their department and task."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.console.exports import MAX_ROWS
from services.console.navigation import ESCALATED_SERVICES
from services.console.pages import ConsoleDep, Person, list_page, render, require_page
from shared.contracts.vocabulary import ActionItemState

router = APIRouter()
PAGE_SIZE = 25


@router.get(ESCALATED_SERVICES.path, response_class=HTMLResponse)
async def escalated_services(
    request: Request, console: ConsoleDep, person: Person, offset: int = Query(0, ge=0)
) -> Response:
    require_page(person, ESCALATED_SERVICES)
    query = {"held_here": "true", "waiting": "true"}
    found = await list_page(console, person, "referral", "/v1/services", query, offset=offset, size=PAGE_SIZE)
    # A joint meeting's action items left open after their day climb the same way (the first page).
    held = {"held_here": "true", "state": ActionItemState.open.value}
    items = await list_page(console, person, "referral", "/v1/action-items", held, offset=0, size=50)
    return render(
        console,
        request,
        "overdue.html",
        person=person,
        services=found.items,
        total=found.total,
        offset=offset,
        shown=len(found.items),
        pages=found.pages,
        max_rows=MAX_ROWS,
        items=items.items,
        items_total=items.total,
    )
