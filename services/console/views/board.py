"""The board: the territory's cases, emergencies first, by casework's filters and keyset pages, with
the total the filters find and each quick filter's count; each row with intake's one line of the
case (age, sex, what happened). And the header's search box: a case number to its case, an ID
number, a name or a reporter's phone to the child search."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.exports import MAX_ROWS
from services.console.navigation import BOARD, CHILDREN_EXPORT, FIND, SEARCH, may_open
from services.console.pages import (
    ConsoleDep,
    Person,
    ServiceAnswer,
    call,
    language_of,
    now,
    render,
    require_page,
)
from services.console.users import SignedIn, usernames_of
from services.console.worklist import (
    OWNERS,
    PAGE_SIZE,
    STATES,
    BoardFilters,
    Paging,
    board_address,
    quick_filters,
    sought,
)
from shared.contracts.vocabulary import Category, RiskLevel, Stage
from shared.territory.code import TerritoryCode, TerritoryLevel

router = APIRouter()
# The child search's field for each kind of thing the search box can be given besides a case number.
SEARCH_FIELD_OF = {"national_id": "child_national_id", "name": "child_name", "phone": "reporter_phone"}


@router.get(BOARD.path, response_class=HTMLResponse)
async def board(
    request: Request,
    console: ConsoleDep,
    person: Person,
    after: str | None = None,
    back: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """The board the address asks for; a filter or page that is not one of its choices (a link typed by
    hand, or forged) is left out and said in words, on the board itself (422)."""
    require_page(person, BOARD)
    filters, paging, refused = board_address(request.query_params, after, back or ())
    try:
        found = await _worklist(console, person, filters, paging)
    except ServiceAnswer as exc:
        if exc.status_code != 422:
            raise
        # What casework refused (a page's cursor it never gave, say): the board without it.
        named = _refused_by(exc.detail)
        refused = (*refused, *(named or ("filters",)))
        if named == ("after",):
            paging = Paging(None, ())
        else:
            filters, paging = BoardFilters(), Paging(None, ())
        found = await _worklist(console, person, filters, paging)
    cases = found["cases"]
    lines = await _lines(console, person, [case["case_id"] for case in cases])
    async with console.engine.connect() as connection:
        names = await usernames_of(connection, (case["owner"]["caseworker"] for case in cases))
    language = language_of(console, request)
    # A township or village chosen is the code prefix of its subtree: what casework's `territory` takes.
    levels = (TerritoryLevel.township, TerritoryLevel.village)
    places = [
        (TerritoryCode(code).prefix, words)
        for code, words in language.places(person.principal.jurisdiction, levels)
    ]
    return render(
        console,
        request,
        "board.html",
        status_code=422 if refused else 200,
        person=person,
        cases=cases,
        lines=lines,
        names=names,
        refused=refused,
        filters=filters,
        values=filters.query(),
        total=found["total"],
        tally=found["tally"],
        quick=quick_filters(filters),
        previous=paging.previous_link(filters),
        next=paging.next_link(filters, found["next"]),
        page_number=paging.number,
        places=places,
        grades=list(RiskLevel),
        categories=list(Category),
        stages=list(Stage),
        owners=OWNERS,
        states=STATES,
        now=now(),
        export_query=urlencode(filters.query()),
        exports_children=may_open(person.principal, CHILDREN_EXPORT),
        max_rows=MAX_ROWS,
    )


async def _worklist(console, person: SignedIn, filters: BoardFilters, paging: Paging) -> dict:
    params = {
        **filters.query(),
        "totals": "true",
        "limit": PAGE_SIZE,
        **({"after": paging.after} if paging.after else {}),
    }
    return await call(console, person, "casework", "GET", "/v1/cases", params=params)


def _refused_by(detail: object) -> tuple[str, ...]:
    """The query fields a service's 422 names (its `loc`s ["query", name])."""
    problems = detail if isinstance(detail, list) else []
    return tuple(
        dict.fromkeys(
            str(p["loc"][1])
            for p in problems
            if isinstance(p, dict)
            and isinstance(p.get("loc"), list)
            and len(p["loc"]) > 1
            and p["loc"][0] == "query"
        )
    )


async def _lines(console, person: SignedIn, case_ids: list[str]) -> dict[str, dict] | None:
    """Intake's one line per case (one call a page, purpose worklist; each read on its ledger).
    A role intake gives no lines to gets none; None when intake could not answer just then."""
    if not case_ids:
        return {}
    try:
        summaries = await call(
            console,
            person,
            "intake",
            "POST",
            "/v1/cases/summaries",
            json={"case_ids": case_ids, "purpose": "worklist"},
        )
    except ServiceAnswer as exc:
        return {} if exc.status_code == 403 else None
    return {line["case_id"]: line for line in summaries["cases"]}


@router.get(FIND.path)
async def find(
    console: ConsoleDep, person: Person, q: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    """The header's search box: a case number straight to its case (open or closed), else the board
    saying no case has it; an ID number, a name or a reporter's phone to the child search, filled in
    (its purpose is chosen there)."""
    require_page(person, FIND)
    what = sought(q)
    if what is None:
        return RedirectResponse(BOARD.path, status_code=303)
    if what.kind != "number":
        field = SEARCH_FIELD_OF[what.kind]
        return RedirectResponse(f"{SEARCH.path}?{urlencode({field: what.text})}", status_code=303)
    found = await call(
        console, person, "casework", "GET", "/v1/cases", params={"number": what.text, "limit": 1}
    )
    if found["cases"]:
        return RedirectResponse(f"/cases/{found['cases'][0]['case_id']}", status_code=303)
    return RedirectResponse(BoardFilters(number=what.text).link(), status_code=303)
