"""Referral decides in batches on the real broker: several grades, or several answers, of one
case in one batch apply with exactly one effect each — a redelivered event included — and a poison
message in the middle is dead-lettered while those around it apply. Grades apply in their versions'
order: an emergency's grade may be applied by the urgent lane before the ordinary lane reaches the
grades sent ahead of it, and an older grade read after it changes nothing."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.contracts.envelope import Envelope, new_envelope
from shared.contracts.events import CaseAssessed, ReferralResponded
from shared.contracts.vocabulary import Agency, Category, RiskLevel, Stage
from tests.e2e.conftest import RunningServices
from tests.e2e.test_assessment_batches import send_together
from tests.e2e.test_intake_assessment import of_case
from tests.e2e.watch import TopicWatcher

VILLAGE = "140402001001"
ASSESSED, RESPONSES, STATUS = "case.assessed", "referral.responses", "referral.status"
CIVIL, YOUTH, POLICE, WOMEN = (
    f"referral.to.{a}" for a in ("civil_affairs", "youth_league", "police", "womens_federation")
)
REFERRED = (CIVIL, YOUTH, POLICE, WOMEN)


def grade(
    case_id: uuid.UUID,
    level: RiskLevel,
    *categories: Category,
    emergency: bool = False,
    version: int | None = None,
) -> Envelope:
    payload = CaseAssessed(
        case_id=case_id,
        assessment_id=uuid.uuid4(),
        jurisdiction=VILLAGE,
        categories=list(categories),
        risk_level=level,
        initial_risk_level=level,
        overridden=False,
        score=1,
        factors=[],
        rule_set_version="test",
        needs=[],
        emergency=emergency,
        response_due_at=datetime.now(UTC),
        stage=Stage.written_review,
        version=version,
    )
    return new_envelope(payload, case_id=case_id, producer="test")


def answer(referral: dict, action: str, *, agency: str | None = None, **details) -> Envelope:
    case_id = uuid.UUID(referral["case_id"])
    payload = ReferralResponded(
        referral_id=uuid.UUID(referral["referral_id"]),
        case_id=case_id,
        agency=Agency(agency or referral["agency"]),
        action=action,
        responded_at=datetime.now(UTC),
        responder_ref="officer-7",
        **details,
    )
    return new_envelope(payload, case_id=case_id, producer="test")


@dataclass(frozen=True)
class Malformed:
    """Bytes no parser accepts, sent under a case's key like its events."""

    case_id: uuid.UUID

    def to_json(self) -> bytes:
        return b"{not json"


def dead_letter_of(consumer: str, case_id: uuid.UUID):
    """The dead letter of one consumer (others read the same topic and dead-letter it too)."""
    return lambda seen: seen.key == str(case_id).encode() and seen.headers.get("x-dlq-consumer") == consumer


async def rows(database_url: str, query: str, case_id: uuid.UUID) -> list:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(query), {"c": case_id})).all()
    finally:
        await engine.dispose()


async def test_grades_of_one_case_in_one_batch_refer_each_agency_once_around_a_poison(
    infra, services: RunningServices
) -> None:
    case = uuid.uuid4()
    blue = grade(case, RiskLevel.blue, Category.left_behind, version=1)
    red = grade(case, RiskLevel.red, Category.left_behind, emergency=True, version=2)
    abuse = grade(case, RiskLevel.red, Category.left_behind, Category.abuse, emergency=True, version=3)
    async with TopicWatcher(infra.kafka_bootstrap, [*REFERRED, f"{ASSESSED}.dlq"]) as watcher:
        await send_together(infra.kafka_bootstrap, ASSESSED, [blue, Malformed(case), red, abuse, blue])
        for topic in REFERRED:
            await watcher.wait_for(topic, of_case(str(case)), timeout=60)
        (dead,) = await watcher.wait_for(
            f"{ASSESSED}.dlq", dead_letter_of("referral.assessed", case), timeout=60
        )
        await asyncio.sleep(2.0)  # time for any second referral to show
        referred = {topic: watcher.matching(topic, of_case(str(case))) for topic in REFERRED}

    assert {topic: len(seen) for topic, seen in referred.items()} == dict.fromkeys(REFERRED, 1), (
        "one referral per agency, the redelivered grade included"
    )
    causes = {topic: seen[0].json()["causation_id"] for topic, seen in referred.items()}
    # Civil affairs and the youth league are named by every grade: by the blue one if the ordinary
    # lane applied it first, by the red one if the urgent lane took the emergency ahead of it.
    assert causes[CIVIL] == causes[YOUTH] in {str(blue.event_id), str(red.event_id)}
    assert (causes[POLICE], causes[WOMEN]) == (str(red.event_id), str(abuse.event_id)), (
        "each agency referred by the grade that first named it"
    )
    assert referred[POLICE][0].json()["payload"]["risk_level"] == "red"
    assert dead.value == Malformed(case).to_json()

    stored = await rows(
        infra.database_url,
        "SELECT agency, risk_level, ack_due_at - created_at AS hours "
        "FROM referral.referrals WHERE case_id = :c",
        case,
    )
    assert sorted(r.agency for r in stored) == [
        "civil_affairs",
        "police",
        "womens_federation",
        "youth_league",
    ], "exactly one referral per agency"
    assert {(r.risk_level, r.hours) for r in stored} == {("red", timedelta(hours=24))}, (
        "the re-grade in the same batch gave the blue referrals red's deadline, from their creation"
    )
    (record,) = await rows(
        infra.database_url, "SELECT risk_level, categories FROM referral.cases WHERE case_id = :c", case
    )
    assert record.risk_level == "red" and set(record.categories) == {"left_behind", "abuse"}


async def test_answers_of_one_case_in_one_batch_apply_in_order_around_a_poison(
    infra, services: RunningServices
) -> None:
    case = uuid.uuid4()
    async with TopicWatcher(infra.kafka_bootstrap, [CIVIL, YOUTH, STATUS, f"{RESPONSES}.dlq"]) as watcher:
        first_grade = grade(case, RiskLevel.blue, Category.left_behind)
        await send_together(infra.kafka_bootstrap, ASSESSED, [first_grade])
        (civil,) = await watcher.wait_for(CIVIL, of_case(str(case)), timeout=60)
        (youth,) = await watcher.wait_for(YOUTH, of_case(str(case)), timeout=60)
        civil, youth = civil.json()["payload"], youth.json()["payload"]
        acknowledged, started = answer(civil, "acknowledge"), answer(civil, "start")
        completed, youth_ack = answer(civil, "complete", outcome="successful"), answer(youth, "acknowledge")
        foreign = answer(youth, "acknowledge", agency="police")  # about another agency's referral
        batch = [acknowledged, started, foreign, completed, youth_ack, acknowledged]
        await send_together(infra.kafka_bootstrap, RESPONSES, batch)
        changes = await watcher.wait_for(STATUS, of_case(str(case)), count=4, timeout=60)
        (dead,) = await watcher.wait_for(
            f"{RESPONSES}.dlq", dead_letter_of("referral.responses", case), timeout=60
        )
        await asyncio.sleep(2.0)  # time for any second status change to show
        changes = watcher.matching(STATUS, of_case(str(case)))

    applied = (acknowledged, started, completed, youth_ack)
    assert [c.json()["causation_id"] for c in changes] == [str(e.event_id) for e in applied], (
        "one change per answer, in order, the redelivered one included"
    )
    assert [(c.json()["payload"]["agency"], c.json()["payload"]["state"]) for c in changes] == [
        ("civil_affairs", "acknowledged"),
        ("civil_affairs", "in_progress"),
        ("civil_affairs", "done"),
        ("youth_league", "acknowledged"),
    ]
    assert [c.json()["payload"]["stage"] for c in changes] == ["services"] * 4
    assert dead.headers["x-dlq-error"].startswith("ForeignAnswer"), dead.headers["x-dlq-error"]
    assert dead.value == foreign.to_json()

    stored = {
        r.agency: r
        for r in await rows(
            infra.database_url,
            "SELECT agency, state, outcome, acknowledged_at FROM referral.referrals WHERE case_id = :c",
            case,
        )
    }
    assert (stored["civil_affairs"].state, stored["civil_affairs"].outcome) == ("done", "successful")
    assert stored["civil_affairs"].acknowledged_at == acknowledged.payload.responded_at, (
        "acknowledged when the agency first answered, not when it finished"
    )
    assert stored["youth_league"].state == "acknowledged", "the poison's neighbours applied"
    (record,) = await rows(infra.database_url, "SELECT stage FROM referral.cases WHERE case_id = :c", case)
    assert record.stage == "services"
