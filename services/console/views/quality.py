"""Data quality in the console, for supervisors, directors and auditors: for a node of their territory,
each node below it with its open cases and its quality score (the share lacking nothing, as the
bulletin counts it), a click drilling down; and the open cases whose record lacks what a rule asks (a
red case with no home visit within 72 hours, not graded 24 hours after the report, neither birth date
nor age) — what to correct, the longest waiting first, one rule or all, in pages, each case a link to
where it is corrected. Counted by the audit service from the record, as of now."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.audit.quality import RULES
from services.console.navigation import DATA_QUALITY
from services.console.pages import ConsoleDep, Person, call, language_of, list_page, render, require_page
from services.console.views.bulletins import CODE, node_choices, own_node, territory_nodes

router = APIRouter()
PAGE_SIZE = 25


def drill(code: str, rule: str | None = None) -> str:
    """The address of a node's own list of what to correct."""
    return f"{DATA_QUALITY.path}?territory={code}" + (f"&rule={rule}" if rule else "")


async def quality_scores(console, person, lang, node: str, drillable: list[str]) -> list[tuple]:
    """Each node below `node` with its score, then `node` itself (audit's answer): its name, the score,
    and the address of its own list when it is one of `drillable` other than `node`."""
    found = await call(console, person, "audit", "GET", f"/v1/quality/{node}/scores")
    return [
        (
            console.territory.node(s["node"]).name(lang.html_lang),
            s,
            drill(s["node"]) if s["node"] != node and s["node"] in drillable else None,
        )
        for s in found
    ]


@router.get(DATA_QUALITY.path, response_class=HTMLResponse)
async def data_quality(
    request: Request,
    console: ConsoleDep,
    person: Person,
    territory: str | None = Query(None, pattern=CODE),
    rule: str | None = Query(None, pattern="^(" + "|".join(RULES) + ")?$"),
    offset: int = Query(0, ge=0),
) -> Response:
    require_page(person, DATA_QUALITY)
    lang = language_of(console, request)
    nodes = territory_nodes(console, person)
    chosen = territory if territory in nodes else own_node(console, person)
    rule = rule or None
    if chosen is None:  # a territory the registry does not hold: nothing to count
        raise HTTPException(404, "no such territory")
    scores = await quality_scores(console, person, lang, chosen, nodes)
    query = {"rule": rule} if rule else {}
    found = await list_page(
        console, person, "audit", f"/v1/quality/{chosen}", query, offset=offset, size=PAGE_SIZE
    )
    return render(
        console,
        request,
        "quality.html",
        person=person,
        nodes=node_choices(console, lang, nodes, chosen),
        chosen=chosen,
        rules=RULES,
        rule=rule,
        scores=scores,
        cases=found.items,
        total=found.total,
        offset=offset,
        shown=len(found.items),
        pages=found.pages,
    )
