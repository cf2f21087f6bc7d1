"""A joint meeting's action item left open after its day climbs the territory as a late referral or
service does (issue 24: "tracked and escalated like referrals"), through referral's API in-process on
the real database, swept on clocks handed to it: the village's case's item goes to its township the
morning after its day, to the county three days on, then to the city, and no further; each climb one
`meeting.action_item_escalated` in the outbox; the city's supervisors find it held at their level, the
county's no longer; an item marked done never climbs. The item is dated in the past (a meeting nine
days ago) rather than the clock moved ahead: nothing is dated in the future."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta

from sqlalchemy import delete, select

from services.referral import tables as t
from services.referral.action_items import escalate_overdue_action_items
from services.referral.provision import LOCAL
from services.referral.refer import OUTBOX, Resources
from services.referral.routing import load_routes
from shared.auth import Role
from shared.unit_of_work import TableOutbox, UnitOfWork, committed
from tests.e2e.reports import token
from tests.integration.test_services_api import referral as referral  # noqa: F401 - the fixture
from tests.integration.test_services_api import sessions as sessions  # noqa: F401 - the fixture

COUNTY, VILLAGE = "140402", "140402001001"
SUPERVISOR = token(Role.supervisor, "sup-items", jurisdiction=COUNTY)
TODAY = datetime.now(LOCAL).date()
HELD, DUE = TODAY - timedelta(days=10), TODAY - timedelta(days=9)


async def _item(referral, sessions) -> tuple[uuid.UUID, uuid.UUID]:
    """A case of the village, decided on by the county's meeting ten days ago, with an item for
    education due the day after."""
    case_id = uuid.uuid4()
    async with sessions.begin() as session:
        await session.execute(
            t.cases.insert().values(
                case_id=case_id,
                jurisdiction=VILLAGE,
                risk_level="orange",
                emergency=False,
                categories=["left_behind"],
                needs=[],
                stage="plan",
                case_number=f"140402-2026-{uuid.uuid4().int % 10**7:07d}",
            )
        )
    meeting = {"jurisdiction": "140402000000", "held_on": HELD.isoformat(), "present": ["education"]}
    made = await referral.post("/v1/meetings", json=meeting, headers=SUPERVISOR)
    assert made.status_code == 201, made.text
    meeting_id = made.json()["meeting_id"]
    decision = {"case_id": str(case_id), "decision": "assign_department", "note": "教育部门负责复学"}
    decided = await referral.post(f"/v1/meetings/{meeting_id}/decisions", json=decision, headers=SUPERVISOR)
    assert decided.status_code in (200, 201), decided.text
    item = {
        "case_id": str(case_id),
        "agency": "education",
        "task": "school_enrolment",
        "due_on": DUE.isoformat(),
        "note": "下周五前落实复学",
    }
    given = await referral.post(f"/v1/meetings/{meeting_id}/action-items", json=item, headers=SUPERVISOR)
    assert given.status_code == 201, given.text
    assert (given.json()["holder"], given.json()["escalations"]) == (VILLAGE, 0)
    return case_id, uuid.UUID(given.json()["action_item_id"])


async def _sweep(sessions, at: datetime) -> None:
    res = Resources(load_routes(), "http://referral", clock=lambda: at)
    while True:  # other tests' open items may be due too: sweep until none is left
        async with committed(sessions.begin, UnitOfWork("referral", TableOutbox(OUTBOX))) as work:
            if not await escalate_overdue_action_items(work, res):
                return


async def test_an_action_item_left_open_climbs_to_the_township_the_county_and_the_city(
    referral, sessions
) -> None:
    case_id, item_id = await _item(referral, sessions)
    _, done_id = await _item(referral, sessions)
    finished = await referral.post(
        f"/v1/action-items/{done_id}/done", json={"note": "已复学"}, headers=SUPERVISOR
    )
    assert finished.status_code == 200, finished.text
    morning_after = datetime.combine(DUE + timedelta(days=1), time(), tzinfo=LOCAL)
    items = t.action_items.c
    holders = []
    for at in (
        morning_after - timedelta(minutes=1),  # its day is not over: nothing moves
        morning_after + timedelta(minutes=1),
        morning_after + timedelta(days=2),  # within three days of the last climb: nothing moves
        morning_after + timedelta(days=3, minutes=2),
        morning_after + timedelta(days=6, minutes=3),
        datetime.now(LOCAL),  # the city is the top
    ):
        await _sweep(sessions, at)
        async with sessions() as session:
            holders.append(await session.scalar(select(items.holder).where(items.id == item_id)))
    assert holders == [
        VILLAGE,
        "140402001000",
        "140402001000",
        "140402000000",
        "140400000000",
        "140400000000",
    ]
    async with sessions() as session:
        done_holder = await session.scalar(select(items.holder).where(items.id == done_id))
        events = (
            await session.scalars(
                select(OUTBOX.c.event_type)
                .where(OUTBOX.c.aggregate_id == str(case_id))
                .order_by(OUTBOX.c.seq)
            )
        ).all()
    assert done_holder == VILLAGE, "marked done: it never climbs"
    assert [e for e in events if e.startswith("meeting.action_item")] == [
        "meeting.action_item",
        *["meeting.action_item_escalated"] * 3,
    ]
    city = token(Role.supervisor, "sup-items-city", jurisdiction="1404")
    held = await referral.get("/v1/action-items", params={"held_here": "true"}, headers=city)
    assert held.status_code == 200, held.text
    (mine,) = [i for i in held.json() if i["action_item_id"] == str(item_id)]
    assert (mine["holder"], mine["escalations"], mine["state"]) == ("140400000000", 3, "open")
    at_county = await referral.get("/v1/action-items", params={"held_here": "true"}, headers=SUPERVISOR)
    assert str(item_id) not in {i["action_item_id"] for i in at_county.json()}, "it is the city's now"
    async with sessions.begin() as session:  # leave no open item due in the past for other tests
        await session.execute(delete(t.action_items).where(t.action_items.c.id.in_([item_id, done_id])))
