"""Assessment decides in batches on the real broker: several events of one case in one batch
apply in offset order with exactly one effect each, and a poison event in the middle of a
batch is dead-lettered while the events around it are applied."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.contracts.envelope import new_envelope
from shared.contracts.events import CaseReassessmentRequested, CaseReported
from shared.contracts.vocabulary import Category, Channel, Indicator
from tests.e2e.conftest import RunningServices
from tests.e2e.test_intake_assessment import of_case
from tests.e2e.watch import TopicWatcher

VILLAGE = "140402001001"
ASSESSED, REPORTED, REASSESS = "case.assessed", "case.reported", "case.reassessment_requested"


def reported(case_id: uuid.UUID, category: Category, *indicators: Indicator):
    payload = CaseReported(
        case_id=case_id,
        report_id=uuid.uuid4(),
        child_ref=uuid.uuid4(),
        external_id="HL-b",
        channel=Channel.hotline,
        jurisdiction=VILLAGE,
        age_years=10,
        categories=[category],
        indicators=list(indicators),
        earlier_reports=0,
        reported_at=datetime.now(UTC),
    )
    return new_envelope(payload, case_id=case_id, producer="test")


def reassess(case_id: uuid.UUID, *indicators: Indicator):
    payload = CaseReassessmentRequested(
        case_id=case_id,
        visit_id=None,
        indicators=list(indicators),
        unmet_needs=[],
        reason="new_evidence",
        requested_at=datetime.now(UTC),
    )
    return new_envelope(payload, case_id=case_id, producer="test")


async def send_together(bootstrap: str, topic: str, events) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        futures = [await producer.send(topic, e.to_json(), key=str(e.case_id).encode()) for e in events]
        for future in futures:
            await future
    finally:
        await producer.stop()


async def test_several_events_of_one_case_and_a_poison_in_the_middle_of_a_batch(
    infra, services: RunningServices
):
    case, unknown = uuid.uuid4(), uuid.uuid4()
    reports = [
        reported(case, Category.left_behind),
        reported(case, Category.street),
        reported(case, Category.abuse, Indicator.visible_injury),
    ]
    requests = [
        reassess(case, Indicator.immediate_danger),
        reassess(unknown, Indicator.begging),
        reassess(case, Indicator.no_caregiver),
    ]
    async with TopicWatcher(infra.kafka_bootstrap, [ASSESSED, f"{REASSESS}.dlq"]) as watcher:
        await send_together(infra.kafka_bootstrap, REPORTED, reports)
        graded = await watcher.wait_for(ASSESSED, of_case(str(case)), count=3, timeout=60)
        await send_together(infra.kafka_bootstrap, REASSESS, requests)
        regraded = await watcher.wait_for(ASSESSED, of_case(str(case)), count=5, timeout=60)
        (dead,) = await watcher.wait_for(
            f"{REASSESS}.dlq", lambda s: s.key == str(unknown).encode(), timeout=60
        )

    # In offset order: each grade builds on the one before (categories accumulate).
    categories = [set(seen.json()["payload"]["categories"]) for seen in graded]
    assert categories == [{"left_behind"}, {"left_behind", "street"}, {"left_behind", "street", "abuse"}]
    causes = [seen.json()["causation_id"] for seen in regraded]
    assert causes == [str(e.event_id) for e in (*reports, requests[0], requests[2])], (
        "one grade per event, in order"
    )
    assert regraded[3].json()["payload"]["risk_level"] == "red", "immediate danger forces red"
    assert dead.headers["x-dlq-error"].startswith("CaseNotFound"), dead.headers["x-dlq-error"]

    engine = create_async_engine(infra.database_url)
    try:
        async with engine.connect() as conn:
            state = (
                await conn.execute(
                    text("SELECT reports, indicators FROM assessment.cases WHERE case_id = :c"), {"c": case}
                )
            ).one()
            history = await conn.scalar(
                text("SELECT count(*) FROM assessment.assessments WHERE case_id = :c"), {"c": case}
            )
            unknown_rows = await conn.scalar(
                text("SELECT count(*) FROM assessment.cases WHERE case_id = :c"), {"c": unknown}
            )
    finally:
        await engine.dispose()
    assert state.reports == 3 and {"immediate_danger", "no_caregiver", "visible_injury"} <= set(
        state.indicators
    )
    assert history == 5, "exactly one grade per event"
    assert unknown_rows == 0, "the poison left nothing behind"
