"""Follow-up decides in batches on the real broker: several events of one case in one batch apply
in offset order with exactly one effect each (a redelivered one changes nothing), and a poison
message in the middle is dead-lettered while the events around it are applied."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.contracts.envelope import new_envelope
from shared.contracts.events import CaseAssessed, FollowupDue, ReferralStatusChanged
from shared.contracts.vocabulary import Agency, Category, ReferralState, RiskLevel, Stage
from tests.e2e.conftest import RunningServices
from tests.e2e.test_intake_assessment import of_case
from tests.e2e.watch import TopicWatcher

VILLAGE = "140402001001"
ASSESSED, STATUS, SCHEDULED = CaseAssessed.TOPIC, ReferralStatusChanged.TOPIC, "followup.scheduled"


def assessed(case_id: uuid.UUID, level: RiskLevel, due: datetime):
    payload = CaseAssessed(
        case_id=case_id,
        assessment_id=uuid.uuid4(),
        jurisdiction=VILLAGE,
        categories=[Category.left_behind],
        risk_level=level,
        initial_risk_level=level,
        overridden=False,
        score=1,
        factors=[],
        rule_set_version="test",
        needs=[],
        emergency=False,
        response_due_at=due,
        stage=Stage.written_review,
    )
    return new_envelope(payload, case_id=case_id, producer="test")


def status(case_id: uuid.UUID, referral_id: uuid.UUID, state: ReferralState, stage: Stage):
    payload = ReferralStatusChanged(
        referral_id=referral_id,
        case_id=case_id,
        agency=Agency.education,
        state=state,
        outcome="successful" if state == ReferralState.done else None,
        reason="not_ours" if state == ReferralState.declined else None,
        changed_at=datetime.now(UTC),
        stage=stage,
    )
    return new_envelope(payload, case_id=case_id, producer="test")


async def send_in_one_batch(bootstrap: str, topic: str, key: uuid.UUID, messages: list[bytes]) -> None:
    """All under one key (one partition, in this order), lingering so they travel together."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=str(key).encode()) for value in messages]
        for future in futures:
            await future
    finally:
        await producer.stop()


def dead_letter_of(consumer: str, case_id: uuid.UUID):
    return lambda seen: seen.key == str(case_id).encode() and seen.headers.get("x-dlq-consumer") == consumer


async def query(database_url: str, sql: str, **params):
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql), params)).all()
    finally:
        await engine.dispose()


async def test_three_grades_of_one_case_a_stray_event_and_a_redelivery_in_one_batch(
    infra, services: RunningServices
) -> None:
    case = uuid.uuid4()
    now = datetime.now(UTC).replace(microsecond=0)
    grades = [
        assessed(case, RiskLevel.blue, now + timedelta(days=10)),
        assessed(case, RiskLevel.orange, now + timedelta(days=3)),
        assessed(case, RiskLevel.red, now + timedelta(days=1)),
    ]
    # An event of another kind published to case.assessed: valid, but follow-up has no rule for it.
    stray = new_envelope(
        FollowupDue(case_id=case, plan_id=uuid.uuid4(), visit_due_at=now, jurisdiction="140402001001"),
        case_id=case,
        producer="test",
    )
    batch = [grades[0], grades[1], stray, grades[0], grades[2]]  # grades[0] again: a redelivery
    async with TopicWatcher(infra.kafka_bootstrap, [SCHEDULED, f"{ASSESSED}.dlq"]) as watcher:
        await send_in_one_batch(infra.kafka_bootstrap, ASSESSED, case, [e.to_json() for e in batch])
        (dead,) = await watcher.wait_for(
            f"{ASSESSED}.dlq", dead_letter_of("followup.assessed", case), timeout=60
        )
        await watcher.wait_for(SCHEDULED, of_case(str(case)), count=3, timeout=60)
        await asyncio.sleep(2.0)  # time for any second effect to show
        scheduled = watcher.matching(SCHEDULED, of_case(str(case)))

    assert [s.json()["causation_id"] for s in scheduled] == [str(g.event_id) for g in grades], (
        "one plan change per grade, in offset order; the redelivered grade changed nothing"
    )
    assert [s.json()["payload"]["cadence_days"] for s in scheduled] == [30, 14, 7]
    assert len({s.json()["payload"]["plan_id"] for s in scheduled}) == 1, "one plan, rescheduled"
    assert dead.headers["x-dlq-error"].startswith("UnexpectedEvent"), dead.headers["x-dlq-error"]
    assert dead.headers["x-dlq-tries"] == "1", "never valid: dead-lettered at once"
    assert dead.value == stray.to_json()

    (plan,) = await query(
        infra.database_url,
        "SELECT risk_level, cadence_days, next_visit_due_at, state FROM followup.plans WHERE case_id = :c",
        c=case,
    )
    assert tuple(plan) == ("red", 7, now + timedelta(days=1), "open")
    (claimed,) = await query(
        infra.database_url,
        "SELECT count(*) FROM followup.processed_events "
        "WHERE consumer = 'followup.assessed' AND event_id = ANY(:ids)",
        ids=[str(e.event_id) for e in (*grades, stray)],
    )
    assert claimed[0] == 3, "each grade recorded once; the stray event left nothing behind"


async def test_several_referral_changes_of_one_case_and_bytes_that_are_no_event_in_one_batch(
    infra, services: RunningServices
) -> None:
    case, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with TopicWatcher(infra.kafka_bootstrap, [SCHEDULED, f"{STATUS}.dlq"]) as watcher:
        grade = assessed(case, RiskLevel.orange, datetime.now(UTC) + timedelta(days=3))
        await send_in_one_batch(infra.kafka_bootstrap, ASSESSED, case, [grade.to_json()])
        await watcher.wait_for(SCHEDULED, of_case(str(case)), timeout=60)  # follow-up has a plan

        acknowledged = status(case, first, ReferralState.acknowledged, Stage.services)
        changes = [
            acknowledged.to_json(),
            b"this is plain text, not JSON",
            status(case, first, ReferralState.done, Stage.services).to_json(),
            acknowledged.to_json(),  # redelivered after the referral was done
            status(case, second, ReferralState.created, Stage.plan).to_json(),
            status(case, second, ReferralState.declined, Stage.services).to_json(),
        ]
        await send_in_one_batch(infra.kafka_bootstrap, STATUS, case, changes)
        (dead,) = await watcher.wait_for(
            f"{STATUS}.dlq", dead_letter_of("followup.referrals", case), timeout=60
        )

    assert "not JSON" in dead.headers["x-dlq-error"], dead.headers["x-dlq-error"]
    for _ in range(100):  # the events behind the poison commit with it or just after
        rows = await query(
            infra.database_url,
            "SELECT referral_id, state FROM followup.referral_states WHERE referral_id IN (:a, :b)",
            a=first,
            b=second,
        )
        states = dict(rows)
        if states.get(second) == "declined":  # the last change of the batch
            break
        await asyncio.sleep(0.1)
    assert states == {first: "done", second: "declined"}, (
        "each referral's last change in offset order wins; the redelivered acknowledgement changed nothing"
    )
    ((stage,),) = await query(
        infra.database_url, "SELECT stage FROM followup.plans WHERE case_id = :c", c=case
    )
    assert stage == "services"
