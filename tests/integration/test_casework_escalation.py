"""Casework's sweep on the real database, with an injected clock: a red case's written review
missed escalates to the county's supervisors once; a case left with no owner is found and
escalated once; the gauges count both."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from sqlalchemy import delete, select, update

from services.casework import tables as t
from services.casework.cases import OUTBOX, Resources
from services.casework.escalation import escalate_cases, late_gauges
from services.casework.handlers import on_case_events
from services.casework.policy import load_policy
from shared.contracts.vocabulary import RiskLevel
from shared.territory.registry import load_territory
from shared.unit_of_work import TableOutbox, UnitOfWork, committed
from tests.integration.test_casework_cases import NOW, assessed, delivered, engine, reported  # noqa: F401

COUNTY = "140402000000"


def at(moment) -> Resources:
    return Resources(load_policy(), load_territory(), clock=lambda: moment)


async def _escalations(engine, case_id: uuid.UUID) -> list[dict]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(OUTBOX.c.payload)
            .where(OUTBOX.c.aggregate_id == str(case_id), OUTBOX.c.event_type == "case.escalated")
            .order_by(OUTBOX.c.seq)
        )
        return [json.loads(payload)["payload"] for (payload,) in rows]


async def _sweep(engine, res: Resources) -> None:
    # Cases other tests left behind are swept too; a large limit keeps this test's own in reach.
    async with committed(engine.begin, UnitOfWork("casework", TableOutbox(OUTBOX))) as work:
        await escalate_cases(work, res, limit=100_000)


async def test_a_missed_red_review_escalates_to_the_county_once_per_deadline(engine) -> None:
    case_id = uuid.uuid4()
    async with engine.begin() as connection:
        await on_case_events(
            connection, delivered([reported(case_id), assessed(case_id, RiskLevel.red)]), at(NOW)
        )
    await _sweep(engine, at(NOW + timedelta(hours=3, minutes=59)))
    assert await _escalations(engine, case_id) == [], "not yet due"
    for _ in range(2):
        await _sweep(engine, at(NOW + timedelta(hours=4, minutes=1)))
    (escalation,) = await _escalations(engine, case_id)
    assert (
        escalation["reason"],
        escalation["to_jurisdiction"],
        escalation["to_level"],
        escalation["risk_level"],
    ) == ("review_overdue", COUNTY, "county", "red")
    assert escalation["due_at"].startswith("2026-12-01T12:00:00")
    async with engine.connect() as connection:
        gauges = await late_gauges(connection, at(NOW + timedelta(hours=4, minutes=1)))
    red_late = next(
        g for g in gauges if g.name == "cpnet_case_reviews_overdue" and g.labels["risk_level"] == "red"
    )
    assert red_late.value >= 1


async def test_a_case_left_without_an_owner_is_found_and_escalated_once(engine) -> None:
    case_id = uuid.uuid4()
    async with engine.begin() as connection:
        await on_case_events(
            connection, delivered([reported(case_id), assessed(case_id, RiskLevel.blue)]), at(NOW)
        )
        # As if its ownership were lost (a repair by hand, a bug): the sweep must notice.
        await connection.execute(update(t.cases).where(t.cases.c.case_id == case_id).values(owner_node=None))
    later = NOW + timedelta(hours=1)
    try:
        async with engine.connect() as connection:
            gauges = await late_gauges(connection, at(later))
        blue = next(
            g for g in gauges if g.name == "cpnet_case_blind_spots" and g.labels["risk_level"] == "blue"
        )
        assert blue.value >= 1
        for _ in range(2):
            await _sweep(engine, at(later))
        (escalation,) = await _escalations(engine, case_id)
        assert (escalation["reason"], escalation["to_jurisdiction"], escalation["due_at"]) == (
            "no_owner",
            COUNTY,
            None,
        )
    finally:
        # The end-to-end tests, on the same stack, check that a run leaves no blind spot.
        async with engine.begin() as connection:
            await connection.execute(delete(t.cases).where(t.cases.c.case_id == case_id))
