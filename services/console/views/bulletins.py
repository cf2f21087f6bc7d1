"""The periodic bulletin (定期通报) in the console, for supervisors, directors and auditors: a node of
their territory and a month; its tables on the page as they will be published (1–4 children as "<5"),
and the PDF and XLSX to download — the same figures `cpnet bulletin` writes, counted by the audit
service with the ledger's heads, so `cpnet bulletin verify` checks a downloaded XLSX as well."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.console.bulletins import (
    answer_as_bulletin,
    column_words,
    pdf,
    printed,
    row_words,
    title,
    workbook,
)
from services.console.navigation import BULLETINS
from services.console.pages import ConsoleDep, Person, call, language_of, render, require_page
from services.console.spreadsheets import XLSX
from shared.contracts.vocabulary import CHINA_STANDARD_TIME
from shared.territory.code import TerritoryLevel

router = APIRouter()
MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
CODE = r"^[0-9]{12}$"


def last_month() -> str:
    first = datetime.now(CHINA_STANDARD_TIME).replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def own_node(console, person) -> str | None:
    """The node of the person's territory (the city's for one who has none: an auditor)."""
    own = (person.principal.jurisdiction or console.territory.city.code[:4]).ljust(12, "0")
    return own if own in console.territory else None


def territory_nodes(console, person) -> list[str]:
    """The nodes a person may ask a bulletin of: their own and each below it down to the townships."""
    own = own_node(console, person)
    if own is None:
        return []
    found, todo = [], [own]
    while todo:
        code = todo.pop(0)
        found.append(code)
        node = console.territory.node(code)
        if node.level in (TerritoryLevel.province, TerritoryLevel.city, TerritoryLevel.county):
            todo += [child.code for child in console.territory.children(code)]
    return found


def node_choices(console, lang, nodes: list[str], chosen: str | None) -> list[tuple[str, str, bool]]:
    """The nodes of a page's territory picker: each code, its name in the reader's language, chosen."""
    return [(code, console.territory.node(code).name(lang.html_lang), code == chosen) for code in nodes]


def _drill(console, code: str, month: str) -> str | None:
    """The address of a column's own bulletin, for a node with nodes below it (a click drills down)."""
    if code not in console.territory or not console.territory.children(code):
        return None
    return f"{BULLETINS.path}?territory={code}&period={month}"


async def _bulletin(console, person, territory: str, period: str):
    data = await call(console, person, "audit", "GET", f"/v1/bulletins/{territory}/{period}")
    return answer_as_bulletin(data)


@router.get(BULLETINS.path, response_class=HTMLResponse)
async def bulletins(
    request: Request,
    console: ConsoleDep,
    person: Person,
    territory: str | None = Query(None, pattern=CODE),
    period: str | None = Query(None, pattern=MONTH),
) -> Response:
    require_page(person, BULLETINS)
    lang = language_of(console, request)
    nodes = territory_nodes(console, person)
    chosen = territory or (nodes[0] if nodes else None)
    month = period or last_month()
    made = await _bulletin(console, person, chosen, month) if chosen and territory else None
    return render(
        console,
        request,
        "bulletins.html",
        person=person,
        nodes=node_choices(console, lang, nodes, chosen),
        month=month,
        made=made,
        heading=title(lang, made.figures) if made else None,
        tables=[
            (
                table,
                lang.gettext(f"bulletin:table:{table.key}"),
                [(column_words(lang, table, c), _drill(console, c, month)) for c in table.columns],
                [
                    (row_words(lang, table, r), [text for row, _, text in printed(table) if row == r])
                    for r in table.rows
                ],
            )
            for table in (made.figures.tables if made else ())
        ],
    )


@router.get(BULLETINS.path + "/{territory}/{period}.{kind}")
async def bulletin_file(
    request: Request, console: ConsoleDep, person: Person, territory: str, period: str, kind: str
) -> Response:
    """The bulletin as a file, in the person's language: `pdf` or `xlsx`."""
    require_page(person, BULLETINS)
    if kind not in ("pdf", "xlsx") or not (len(territory) == 12 and territory.isdigit()):
        return Response(status_code=404)
    lang = language_of(console, request)
    made = await _bulletin(console, person, territory, period)
    body, media = (pdf(lang, made), "application/pdf") if kind == "pdf" else (workbook(lang, made), XLSX)
    name = f"bulletin-{territory}-{made.figures.period}-{lang.html_lang}.{kind}"
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})
