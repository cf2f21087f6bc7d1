"""Casework's shell on the real database: a batch holding several events of one case, read across
topics out of their causal order, saves one case owned once; two supervisors assigning the same
case at once cannot both win unseen."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from cpnet.registry import upgrade
from services.casework import tables as t
from services.casework.cases import OUTBOX, Resources, assign
from services.casework.decide import DirectoryEntry, ReasonRequired
from services.casework.handlers import on_case_events
from services.casework.policy import load_policy
from shared.contracts.envelope import new_envelope
from shared.contracts.events import CaseAssessed, CaseReported, ReferralCreated
from shared.contracts.vocabulary import Agency, Category, Channel, Indicator, RiskLevel, Stage
from shared.messaging.consumer import Delivery
from shared.territory.registry import load_territory
from shared.unit_of_work import TableOutbox, UnitOfWork, committed

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
VILLAGE, TOWNSHIP = "140402001001", "140402001000"
RES = Resources(load_policy(), load_territory(), clock=lambda: NOW)


@pytest.fixture
async def engine(infra):
    await asyncio.to_thread(upgrade, "casework", infra.database_url)
    engine = create_async_engine(infra.database_url)
    yield engine
    await engine.dispose()


def reported(case_id: uuid.UUID) -> CaseReported:
    return CaseReported(
        case_id=case_id,
        report_id=uuid.uuid4(),
        child_ref=uuid.uuid4(),
        external_id=None,
        channel=Channel.hotline,
        jurisdiction=VILLAGE,
        age_years=9,
        categories=[Category.abuse],
        indicators=[Indicator.immediate_danger],
        earlier_reports=0,
        reported_at=NOW,
    )


def assessed(case_id: uuid.UUID, level: RiskLevel) -> CaseAssessed:
    return CaseAssessed(
        case_id=case_id,
        assessment_id=uuid.uuid4(),
        jurisdiction=VILLAGE,
        categories=[Category.abuse],
        risk_level=level,
        initial_risk_level=level,
        overridden=False,
        score=9,
        factors=[],
        rule_set_version="test",
        needs=[],
        emergency=level == RiskLevel.red,
        response_due_at=NOW + timedelta(hours=24),
        stage=Stage.written_review,
    )


def referred(case_id: uuid.UUID) -> ReferralCreated:
    return ReferralCreated(
        referral_id=uuid.uuid4(),
        case_id=case_id,
        agency=Agency.police,
        risk_level=RiskLevel.red,
        emergency=True,
        categories=[Category.abuse],
        needs=[],
        jurisdiction=VILLAGE,
        ack_due_at=NOW + timedelta(minutes=30),
        details_url="http://referral/v1/referrals/x",
        stage=Stage.written_review,
    )


def delivered(payloads) -> list:
    return [
        (
            new_envelope(p, case_id=p.case_id, producer="test", occurred_at=NOW),
            Delivery(type(p).TOPIC, 0, offset, None, {}),
        )
        for offset, p in enumerate(payloads)
    ]


async def _assignments(engine, case_ids) -> int:
    async with engine.connect() as connection:
        return await connection.scalar(
            select(func.count())
            .select_from(OUTBOX)
            .where(
                OUTBOX.c.aggregate_id.in_([str(c) for c in case_ids]), OUTBOX.c.event_type == "case.assigned"
            )
        )


async def test_a_batch_with_a_cases_grade_before_its_report_saves_one_case_owned_once(engine) -> None:
    red, blue = uuid.uuid4(), uuid.uuid4()
    batch = delivered(
        [
            assessed(red, RiskLevel.red),
            referred(red),
            assessed(blue, RiskLevel.blue),
            reported(red),
            reported(blue),
        ]
    )
    async with engine.begin() as connection:
        await on_case_events(connection, batch, RES)
    async with engine.connect() as connection:
        rows = {
            row.case_id: row
            for row in await connection.execute(select(t.cases).where(t.cases.c.case_id.in_([red, blue])))
        }
        referrals = await connection.scalar(
            select(func.count()).select_from(t.referrals).where(t.referrals.c.case_id == red)
        )
    assert (rows[red].owner_node, rows[red].owner_ref, rows[red].risk_level, rows[red].urgency) == (
        TOWNSHIP,
        None,
        "red",
        0,
    )
    assert rows[red].child_ref is not None and rows[red].open_referrals == referrals == 1
    assert (rows[red].next_due_kind, rows[red].next_due_at) == ("referral", NOW + timedelta(minutes=30))
    assert (rows[blue].urgency, rows[blue].next_due_kind, rows[blue].next_due_at) == (
        3,
        "review",
        NOW + timedelta(hours=72),
    )
    assert await _assignments(engine, [red, blue]) == 2, "each case owned by its station once"

    # A later batch about the same case (a re-grade) owns nothing again.
    async with engine.begin() as connection:
        await on_case_events(connection, delivered([assessed(red, RiskLevel.orange)]), RES)
    assert await _assignments(engine, [red]) == 1


async def test_two_supervisors_assigning_one_case_at_once_cannot_both_win_unseen(engine) -> None:
    case_id = uuid.uuid4()
    async with engine.begin() as connection:
        await on_case_events(
            connection, delivered([reported(case_id), assessed(case_id, RiskLevel.red)]), RES
        )

    async def by(supervisor: str, caseworker: str):
        async with committed(engine.begin, UnitOfWork("casework", TableOutbox(OUTBOX))) as work:
            return await assign(
                work,
                case_id,
                caseworker,
                supervisor=supervisor,
                reason=None,
                visible=lambda jurisdiction: True,
                res=RES,
                entry=DirectoryEntry(caseworker, "caseworker", "140402"),
            )

    outcomes = await asyncio.gather(by("sup-1", "cw-1"), by("sup-2", "cw-2"), return_exceptions=True)
    won = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(won) == 1 and len(refused) == 1 and isinstance(refused[0], ReasonRequired), outcomes
    async with engine.connect() as connection:
        owner = await connection.scalar(select(t.cases.c.owner_ref).where(t.cases.c.case_id == case_id))
    assert owner == won[0].owner_ref
    assert await _assignments(engine, [case_id]) == 2, "the station's, then the one supervisor's"
