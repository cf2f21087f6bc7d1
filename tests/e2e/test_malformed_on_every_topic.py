"""On the real stack, for every topic a service consumes: each kind of malformed bytes lands in
the topic's dead-letter twin with its reason within seconds (once per consumer group that reads
it), the audit ledger records it without being stopped, and a valid message right behind it on
the same partition is processed by every consumer of the topic."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cpnet.registry import available_services, definition_of
from shared.contracts.envelope import new_envelope, parse_event
from shared.contracts.events import (
    CaseClosed,
    CaseReassessmentRequested,
    ReferralCreated,
    ReferralResponded,
)
from shared.contracts.topics import TOPICS, dlq_topic, referral_topic
from shared.contracts.vocabulary import Agency
from shared.db.tables import messaging_metadata
from shared.service import ServiceContext
from tests.e2e.conftest import RunningServices
from tests.e2e.reports import hotline_report, national_id
from tests.e2e.test_intake_assessment import kcat_produce, of_case
from tests.e2e.watch import TopicWatcher
from tests.malformed import BAD_INPUT_IDS, BAD_INPUTS, BadInput
from tests.unit.test_contracts import sample

RAW = "intake.reports.raw"
SCREENING = "intake.screening.raw"
WAIT = 60.0


def consumers_by_topic() -> dict[str, list[tuple[str, str]]]:
    """Topic → (service, consumer name) of every consumer the services build."""

    class _Relay:
        def wake(self) -> None: ...

    found: dict[str, list[tuple[str, str]]] = {}
    for service in available_services():
        definition = definition_of(service)
        settings = definition.settings()
        resources = definition.resources(settings) if definition.resources else None
        ctx = ServiceContext(
            service,
            settings,
            None,
            None,
            KafkaBroker(),
            _Relay(),  # type: ignore[arg-type]
            messaging_metadata(service),
            resources,
        )
        for consumer in definition.consumers(ctx):
            for topic in (consumer.topic,) if isinstance(consumer.topic, str) else consumer.topic:
                found.setdefault(topic, []).append((service, consumer.name))
    return found


CONSUMERS = consumers_by_topic()
TESTED_TOPICS = sorted(name for name in CONSUMERS if not TOPICS[name].dead_letter)


@dataclass(frozen=True)
class Valid:
    """A message each consumer of its topic accepts, and the id its de-duplication records."""

    value: bytes
    key: bytes
    event_id: str


def screening_record():
    """One surveyed child, validated as the import validates a row (a child with no category:
    registered, no case opened)."""
    from cpnet.importer.rows import validate_row
    from shared.territory.registry import load_territory

    cells = {
        "surveyed_at": "2026-03-02",
        "surveyor_ref": "S-17",
        "jurisdiction": "140402001001",
        "name": f"Child {uuid.uuid4().hex[:8]}",
        "national_id": national_id(),
        "sex": "F",
        "birth_date": "2014-05-05",
        "father": "at_home",
        "mother": "at_home",
        "caregiver": "parents",
        "school_status": "enrolled",
        "health": "healthy",
        "disability": "none",
    }
    return validate_row(cells, row=1, file_id=uuid.uuid4().hex[:16], territory=load_territory())


def fresh_copy(event: dict) -> dict:
    return {**event, "event_id": str(uuid.uuid4())}


class ValidMessages:
    """Valid messages for every tested topic, taken from one real red case's own events (so
    every handler's preconditions hold) and, for topics that case does not reach, built."""

    def __init__(self, seen: dict[str, dict]) -> None:
        self.seen = seen
        self.case_id = uuid.UUID(seen["case.reported"]["case_id"])
        police = seen[referral_topic(Agency.police)]
        self.referral = police

    def for_topic(self, topic: str) -> Valid:
        if topic == SCREENING:
            record = screening_record()
            return Valid(
                record.model_dump_json().encode(),
                record.external_id.encode(),
                f"screening:{record.external_id}",
            )
        if topic == RAW:
            report = hotline_report()
            return Valid(
                json.dumps(report).encode(),
                report["external_id"].encode(),
                f"{report['channel']}:{report['external_id']}",
            )
        event = self._event(topic)
        return Valid(json.dumps(event).encode(), event["case_id"].encode(), event["event_id"])

    def _event(self, topic: str) -> dict:
        now = datetime.now(UTC).isoformat()
        case_id = str(self.case_id)
        if topic in self.seen:
            return fresh_copy(self.seen[topic])
        if topic == ReferralResponded.TOPIC:  # acknowledging again is a harmless no-op
            return self._enveloped(
                ReferralResponded,
                case_id,
                referral_id=self.referral["payload"]["referral_id"],
                agency="police",
                action="acknowledge",
                responded_at=now,
                responder_ref="police-officer-1",
            )
        if topic == CaseReassessmentRequested.TOPIC:
            return self._enveloped(
                CaseReassessmentRequested,
                case_id,
                visit_id=None,
                indicators=["immediate_danger"],
                unmet_needs=[],
                reason="new_evidence",
                requested_at=now,
            )
        if topic == CaseClosed.TOPIC:  # of another case, so the red case stays open
            return self._enveloped(CaseClosed, str(uuid.uuid4()), reason="risk_resolved", closed_at=now)
        if topic.startswith(ReferralCreated.TOPIC + "."):
            agency = topic.removeprefix(ReferralCreated.TOPIC + ".")
            copy = fresh_copy(self.referral)
            copy["payload"] = {**copy["payload"], "agency": agency, "referral_id": str(uuid.uuid4())}
            return copy
        # Topics only the ledger reads: any valid event of the topic's type.
        payload_type = next(t for t in _payload_types() if t.TOPIC == topic)
        event = json.loads(
            new_envelope(
                sample(payload_type), case_id=sample(payload_type).case_id, producer="test"
            ).to_json()
        )
        return event

    @staticmethod
    def _enveloped(payload_type, case_id: str, **payload) -> dict:
        event = {
            "event_id": str(uuid.uuid4()),
            "event_type": payload_type.EVENT_TYPE,
            "schema_version": payload_type.SCHEMA_VERSION,
            "occurred_at": datetime.now(UTC).isoformat(),
            "case_id": case_id,
            "causation_id": None,
            "correlation_id": str(uuid.uuid4()),
            "producer": "test",
            "payload": {"case_id": case_id, **payload},
        }
        parse_event(json.dumps(event))  # a valid event, or the test's own mistake
        return event


def _payload_types() -> Iterator[type]:
    from shared.contracts.envelope import EVENT_TYPES

    return iter(EVENT_TYPES.values())


@pytest.fixture(scope="module")
async def valid_messages(infra, services: RunningServices) -> ValidMessages:
    """One real red case through the whole system: its events on every topic it reaches."""
    report = hotline_report()
    reached = [
        "case.reported",
        "case.assessed",
        referral_topic(Agency.police),
        "followup.scheduled",
        "referral.status",
    ]
    async with TopicWatcher(infra.kafka_bootstrap, reached) as watcher:
        kcat_produce(infra.kafka_bootstrap, report)
        (reported,) = await watcher.wait_for(
            "case.reported", lambda s: report["external_id"] in s.value.decode(), timeout=WAIT
        )
        case_id = reported.json()["case_id"]
        seen = {}
        for topic in reached[:-1]:
            found = await watcher.wait_for(topic, of_case(case_id), timeout=WAIT)
            seen[topic] = found[0].json()
        messages = ValidMessages(seen)
        # The police acknowledge: the referral's status changes.
        ack = messages.for_topic(ReferralResponded.TOPIC)
        await produce(infra.kafka_bootstrap, [(ReferralResponded.TOPIC, ack.value, ack.key, ())])
        found = await watcher.wait_for("referral.status", of_case(case_id), timeout=WAIT)
        seen["referral.status"] = found[0].json()
    return messages


async def produce(bootstrap: str, messages: list[tuple[str, bytes, bytes, tuple]]) -> list[tuple[int, int]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=2 * 1024 * 1024)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=key, headers=list(headers))
            for topic, value, key, headers in messages
        ]
        sent = [await future for future in futures]
    finally:
        await producer.stop()
    return [(meta.partition, meta.offset) for meta in sent]


async def processed(engine: AsyncEngine, service: str, consumer: str, event_id: str) -> bool:
    # The ledger's own unique event key is its record of what it took (audit claims no ids).
    query = (
        "SELECT count(*) FROM audit.ledger WHERE event_key = :event_id"
        if service == "audit"
        else f'SELECT count(*) FROM "{service}".processed_events '
        "WHERE consumer = :consumer AND event_id = :event_id"
    )
    async with engine.connect() as conn:
        found = await conn.scalar(text(query), {"consumer": consumer, "event_id": event_id})
    return found == 1


async def ledger_entry(engine: AsyncEngine, topic: str, partition: int, offset: int) -> dict | None:
    async with engine.connect() as conn:
        return await conn.scalar(
            text(
                'SELECT record FROM audit.ledger WHERE topic = :topic AND "partition" = :p AND "offset" = :o'
            ),
            {"topic": topic, "p": partition, "o": offset},
        )


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=BAD_INPUT_IDS)
async def test_malformed_bytes_on_every_consumed_topic_are_dead_lettered_and_the_next_message_flows(
    infra, services: RunningServices, valid_messages: ValidMessages, bad: BadInput
) -> None:
    valid = {topic: valid_messages.for_topic(topic) for topic in TESTED_TOPICS}
    batch = []
    for topic in TESTED_TOPICS:
        batch += [
            (topic, bad.value, valid[topic].key, bad.headers),
            (topic, valid[topic].value, valid[topic].key, ()),
        ]
    dead_letter_topics = sorted({dlq_topic(topic) for topic in TESTED_TOPICS if _dead_letterers(topic)})
    async with TopicWatcher(infra.kafka_bootstrap, dead_letter_topics) as dead_letters:
        positions = await produce(infra.kafka_bootstrap, batch)
        where = {topic: (positions[2 * i], positions[2 * i + 1]) for i, topic in enumerate(TESTED_TOPICS)}
        await _processed_behind(infra, bad, valid, where)
        # Every consumer group but the ledger's dead-lettered it at once, with the reason.
        for topic in TESTED_TOPICS:
            if not (expected := _dead_letterers(topic)):
                continue
            (partition, offset), _ = where[topic]

            def of_this(seen, partition=partition, offset=offset) -> bool:
                return seen.headers.get("x-dlq-original-partition") == str(partition) and seen.headers.get(
                    "x-dlq-original-offset"
                ) == str(offset)

            letters = await dead_letters.wait_for(
                dlq_topic(topic), of_this, count=len(expected), timeout=WAIT
            )
            assert {seen.headers["x-dlq-consumer"] for seen in letters} == expected, topic
            for seen in letters:
                assert seen.value == bad.value, f"{topic}: the dead letter keeps the original bytes"
                assert bad.reason in seen.headers["x-dlq-error"], f"{topic}: {seen.headers['x-dlq-error']}"
                assert seen.headers["x-dlq-tries"] == "1"


def _dead_letterers(topic: str) -> set[str]:
    return {name for service, name in CONSUMERS[topic] if service != "audit"}


async def _processed_behind(infra, bad: BadInput, valid: dict[str, Valid], where) -> None:
    for topic, ((bad_partition, _), (valid_partition, _)) in where.items():
        assert bad_partition == valid_partition, f"{topic}: both messages share one partition"

    engine = create_async_engine(infra.database_url)
    try:
        # The valid message behind the malformed one is processed by every consumer of its topic.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        waiting = {(topic, service, name) for topic in TESTED_TOPICS for service, name in CONSUMERS[topic]}
        while waiting and loop.time() < deadline:
            for topic, service, name in sorted(waiting):
                event_id = valid[topic].event_id if service != "audit" else f"event:{valid[topic].event_id}"
                if await processed(engine, service, name, event_id):
                    waiting.discard((topic, service, name))
            await asyncio.sleep(0.2)
        assert not waiting, f"valid messages not processed behind {bad.name}: {sorted(waiting)}"

        # The ledger recorded the malformed message too, saying why it could not be read.
        for topic in TESTED_TOPICS:
            if any(service == "audit" for service, _ in CONSUMERS[topic]):
                (partition, offset), _ = where[topic]
                record = await ledger_entry(engine, topic, partition, offset)
                assert record is not None, f"{topic}: the ledger lacks the malformed message"
                assert bad.reason in record["headers"].get("unreadable", ""), f"{topic}: {record['headers']}"
    finally:
        await engine.dispose()
