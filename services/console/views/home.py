"""Each person's first page (`/`: the report form, their cases, the board, the inbox or the
dashboard, by role) and what waits for them, counted in the header and refreshed by the page."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.navigation import APPROVALS, BOARD, home_of, shows_waiting
from services.console.pages import ConsoleDep, Person, PersonIfAny, call, render

router = APIRouter()
# htmx stops polling on this status: the session has ended, so nothing waits to be counted.
STOP_POLLING = 286


@router.get("/")
async def home(request: Request, person: Person) -> Response:
    """The person's first page; the board's old address (`/?owner=me`…) goes on to the board."""
    if request.url.query:
        return RedirectResponse(f"{BOARD.path}?{request.url.query}", status_code=303)
    return RedirectResponse(home_of(person.principal), status_code=303)


@router.get("/waiting", response_class=HTMLResponse)
async def waiting(request: Request, console: ConsoleDep, person: PersonIfAny) -> Response:
    """The header's counts (casework's), each a link to the list it counts; the page asks again
    every minute, which does not count as the person's use of their session."""
    if person is None or not shows_waiting(person.principal):
        return Response(status_code=STOP_POLLING)
    counts = await call(console, person, "casework", "GET", "/v1/cases/waiting")
    for count in counts:
        worklist = count["worklist"]
        count["href"] = (
            APPROVALS.path if worklist is None else f"{BOARD.path}?{urlencode(worklist, doseq=True)}"
        )
    return render(console, request, "_waiting.html", waiting=counts)
