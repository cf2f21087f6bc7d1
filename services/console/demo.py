"""The demonstration's people: one of each role of one county, added when `cpnet run` starts in
development (never in production) so a newcomer can sign in at once. Their password is printed:
they are for trying the system, not for real work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from services.console import tables as t
from services.console.users import add_user
from shared.db.engine import Transaction

DEMO_PASSWORD = "cpnet-demo-password"
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
    """Add whichever demonstration person is missing; (username, role, territory) of each."""
    known = set((await session.execute(select(t.users.c.username))).scalars())
    for username, role, agency, territory in DEMO_PEOPLE:
        if username not in known:
            await add_user(session, username, DEMO_PASSWORD, role=role, agency=agency, jurisdiction=territory,
                           now=now)
    return [(username, role if agency is None else f"{role} ({agency})", territory or "everywhere")
            for username, role, agency, territory in DEMO_PEOPLE]
