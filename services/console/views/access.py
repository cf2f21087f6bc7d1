"""Who read children's data (auditors, and supervisors for their territory): audit's access log by
child, by person, by territory and period, newest first in pages, each entry in words."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.history import entry_in_words
from services.console.i18n import CITY_TIME
from services.console.navigation import ACCESS
from services.console.pages import ConsoleDep, Person, ServiceAnswer, call, language_of, render, require_page
from services.console.users import people_of, subject_named

router = APIRouter()
PAGE_SIZE = 50


def access_query(filters: dict[str, str], reader: str | None) -> dict[str, str]:
    """The page's filters (filled in, `reader` as the services know them) as audit's query: days in
    China Standard Time, `until` taking its whole day. ValueError for a child's id or a day that is
    not one."""
    days = {name: date.fromisoformat(filters[name]) for name in ("since", "until") if name in filters}
    query = {
        "child_ref": "child_ref" in filters and str(uuid.UUID(filters["child_ref"])),
        "reader": reader,
        "territory": filters.get("territory"),
        "since": "since" in days and datetime.combine(days["since"], time(), CITY_TIME).isoformat(),
        "until": "until" in days
        and datetime.combine(days["until"] + timedelta(days=1), time(), CITY_TIME).isoformat(),
    }
    return {name: value for name, value in query.items() if value}


@router.get(ACCESS.path, response_class=HTMLResponse)
async def access_log(
    request: Request,
    console: ConsoleDep,
    person: Person,
    child_ref: str = "",
    reader: str = "",
    territory: str = "",
    since: str = "",
    until: str = "",
    before: int | None = None,
) -> Response:
    """The reader may be named by their console username or by the id the services know them by. A
    filter left empty is no filter; one that is not a date or a child's id is said in words."""
    require_page(person, ACCESS)
    filled = {
        "child_ref": child_ref,
        "reader": reader,
        "territory": territory,
        "since": since,
        "until": until,
    }
    filters = {name: value.strip() for name, value in filled.items() if value.strip()}
    async with console.engine.connect() as connection:
        subject = await subject_named(connection, filters["reader"]) if "reader" in filters else None
    found, problem = {"entries": [], "next": None}, None
    try:
        query = access_query(filters, subject or filters.get("reader"))
        found = await call(
            console,
            person,
            "audit",
            "GET",
            "/v1/access",
            params={**query, **({"before": before} if before else {}), "limit": PAGE_SIZE},
        )
    except ValueError:
        problem = "invalid"
    except ServiceAnswer as exc:
        if exc.status_code != 422:
            raise
        problem = "invalid"
    async with console.engine.connect() as connection:
        people = await people_of(connection, [entry["accessor_ref"] for entry in found["entries"]])
    lang = language_of(console, request)
    entries = [entry_in_words(lang, entry, people) for entry in found["entries"]]
    later = f"{ACCESS.path}?{urlencode({**filters, 'before': found['next']})}" if found["next"] else None
    first = f"{ACCESS.path}?{urlencode(filters)}" if before else None
    return render(
        console,
        request,
        "access.html",
        person=person,
        entries=entries,
        filters=filters,
        problem=problem,
        later=later,
        first=first,
    )
