"""The demonstration's people: one of each role of one county, added when `cpnet run` starts in
development (never in production) so a newcomer can sign in at once. Their password is printed:
they are for trying the system, not for real work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from services.console import tables as t
from services.console.accounts import DEMO_PASSWORD
from services.console.users import add_user
from shared.db.engine import Transaction

COUNTY = "140402"  # 城区 of the example territory (config/territory.yaml)
# username, role, agency, territory
DEMO_PEOPLE = (
    ("hotline", "hotline", None, ""),
    ("caseworker", "caseworker", None, COUNTY),
    ("supervisor", "supervisor", None, COUNTY),
    ("police", "agency_officer", "police", COUNTY),
    ("director", "supervisor", None, "1404"),
    ("auditor", "auditor", None, ""),
)


async def ensure_demo_people(session: Transaction, *, now: datetime) -> list[tuple[str, str, str]]:
    """Add whichever demonstration person is missing, with the public demonstration password (the one
    place it is taken); (username, role, territory) of each."""
    known = set((await session.execute(select(t.users.c.username))).scalars())
    for username, role, agency, territory in DEMO_PEOPLE:
        if username not in known:
            await add_user(
                session,
                username,
                DEMO_PASSWORD,
                role=role,
                agency=agency,
                jurisdiction=territory,
                now=now,
                demonstration=True,
            )
    return [
        (username, role if agency is None else f"{role} ({agency})", territory or "everywhere")
        for username, role, agency, territory in DEMO_PEOPLE
    ]


async def seed_county(settings, *, cases: int, seed: int, say) -> dict[str, int]:
    """Fill the demonstration county: `cases` realistic reports over its villages (taken down in
    intake by the demonstration supervisor), then a third of the cases they opened named to the
    demonstration caseworker, so every page has something to show. Needs the system running
    (`make run`)."""
    import asyncio
    import random

    import httpx

    from shared.auth import directory_audience, issue_token
    from shared.sample_reports import realistic_reports, villages
    from shared.territory.registry import load_territory

    def url(service: str) -> str:
        return f"http://{settings.http_host}:{settings.port_of(service)}"

    async with _engine(settings) as engine, engine.begin() as connection:
        people = dict((await connection.execute(select(t.users.c.username, t.users.c.subject))).all())
    supervisor = {
        "Authorization": "Bearer "
        + issue_token(settings, subject=people["supervisor"], role="supervisor", jurisdiction=COUNTY)
    }
    # The console's directory vouches for its caseworker (services/console/views/cases.py does the same).
    vouched = issue_token(
        settings,
        subject=people["caseworker"],
        role="caseworker",
        jurisdiction=COUNTY,
        audience=directory_audience(settings),
    )
    places = [code for code in villages(load_territory(settings.territory_file)) if code.startswith(COUNTY)]
    rng = random.Random(seed)
    reports = realistic_reports(cases, places=places, run=f"demo-{seed}-{rng.randrange(10**6)}", rng=rng)
    async with httpx.AsyncClient(timeout=30.0) as http:
        # Taken down by the county's supervisor, who is told the case each report opened or joined.
        case_ids: list[str] = []
        for report in reports:
            answer = await http.post(url("intake") + "/v1/reports", json=report.body, headers=supervisor)
            answer.raise_for_status()
            if answer.json()["case_id"] not in case_ids:
                case_ids.append(answer.json()["case_id"])
        say(
            f"reported {len(reports)} children in county {COUNTY}; naming the caseworker of every "
            "third case …"
        )
        assigned = 0
        for case_id in case_ids[::3]:
            for _ in range(120):  # casework owns the case a moment after intake opened it
                answer = await http.post(
                    url("casework") + f"/v1/cases/{case_id}/assignment",
                    json={"caseworker": people["caseworker"], "caseworker_token": vouched},
                    headers=supervisor,
                )
                if answer.status_code != 404:
                    break
                await asyncio.sleep(0.25)
            assigned += answer.status_code == 200
    return {"reports": len(reports), "cases": len(case_ids), "assigned_to_caseworker": assigned}


def _engine(settings):
    """An engine for one short job, disposed after it."""
    from contextlib import asynccontextmanager

    from shared.db.engine import make_engine

    @asynccontextmanager
    async def engine():
        made = make_engine(settings.database_url)
        try:
            yield made
        finally:
            await made.dispose()

    return engine()
