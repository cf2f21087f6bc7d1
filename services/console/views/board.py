"""The board: the territory's open cases, most urgent first, by worklist (casework's filters), with
the counts by grade and each owner by name."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.navigation import BOARD
from services.console.pages import ConsoleDep, Person, call, now, render, require_page
from services.console.users import usernames_of

router = APIRouter()


@router.get(BOARD.path, response_class=HTMLResponse)
async def board(request: Request, console: ConsoleDep, person: Person, owner: str | None = None,
                grade: str | None = None, overdue: bool | None = None, pending_approval: bool | None = None,
                reviewed: bool | None = None) -> Response:
    require_page(person, BOARD)
    filters = {key: value for key, value in (("owner", owner), ("grade", grade), ("overdue", overdue),
                                               ("pending_approval", pending_approval), ("reviewed", reviewed))
               if value is not None}
    cases = await call(console, person, "casework", "GET", "/v1/cases", params={**filters, "limit": 50})
    counts = await call(console, person, "casework", "GET", "/v1/cases/counts")
    async with console.engine.connect() as connection:
        names = await usernames_of(connection, (case["owner"]["caseworker"] for case in cases["cases"]))
    return render(console, request, "board.html", person=person, cases=cases["cases"], counts=counts,
                  filters=filters, names=names, now=now())
