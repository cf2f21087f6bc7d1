"""The territory dashboard: open cases by node × category × grade, new and closed cases per week
(a server-drawn chart with the same numbers as a table), and what is overdue."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.charts import weekly_bars
from services.console.navigation import BULLETINS, DASHBOARD, DATA_QUALITY, may_open
from services.console.pages import ConsoleDep, Person, call, language_of, render, require_page
from services.console.views.bulletins import last_month, own_node, territory_nodes
from services.console.views.quality import drill, quality_scores

router = APIRouter()
LEVELS = ["red", "orange", "blue"]


@router.get(DASHBOARD.path, response_class=HTMLResponse)
async def dashboard(request: Request, console: ConsoleDep, person: Person) -> Response:
    require_page(person, DASHBOARD)
    data = await call(console, person, "casework", "GET", "/v1/cases/dashboard")
    language = language_of(console, request)
    chart = weekly_bars(
        [
            (language.day(week["week_start"], short=True), week["opened"], week["closed"])
            for week in data["weeks"]
        ],
        title=language.gettext("New and closed cases per week"),
        opened_label=language.gettext("New"),
        closed_label=language.gettext("Closed"),
    )
    rows: dict[tuple[str, str], dict[str, int]] = {}
    for count in data["by_category"]:
        by_level = rows.setdefault((count["node"], count["category"]), {})
        level = count["risk_level"] or "none"
        by_level[level] = by_level.get(level, 0) + count["cases"]
    # Each node below the person's with its data-quality score, a click away from what to correct there.
    own = own_node(console, person) if may_open(person.principal, DATA_QUALITY) else None
    nodes = territory_nodes(console, person) if own else []
    scores = await quality_scores(console, person, language, own, nodes) if own else []
    return render(
        console,
        request,
        "dashboard.html",
        scores=scores,
        quality=drill(own) if own else None,
        person=person,
        data=data,
        chart=chart,
        rows=sorted(rows.items()),
        levels=LEVELS,
        # The month's figures are the bulletin's: the person's node, last month, a click away.
        node=own_node(console, person) if may_open(person.principal, BULLETINS) else None,
        month=last_month(),
    )
