"""Nothing a producer sends escapes the consumer's retry-then-dead-letter path: each kind of
malformed bytes is dead-lettered at once with its reason, and the valid event right behind it
on the same partition is applied (on the real broker, one-by-one and in batches)."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from aiokafka import AIOKafkaProducer

from tests.integration.support import Database, read_topic, wait_for
from tests.integration.test_consumer import consuming, effect_recorder, effects_by_event
from tests.integration.test_outbox import scheduled
from tests.malformed import BAD_INPUT_IDS, BAD_INPUTS, BadInput


async def produce_with_headers(
    bootstrap: str, topic: str, messages: list[tuple[bytes, tuple]], *, key: bytes
) -> list[tuple[int, int]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=2 * 1024 * 1024)
    await producer.start()
    try:
        sent = [
            await producer.send_and_wait(topic, value, key=key, headers=list(headers))
            for value, headers in messages
        ]
    finally:
        await producer.stop()
    return [(meta.partition, meta.offset) for meta in sent]


@pytest.mark.parametrize("batch", [False, True], ids=["one-by-one", "batch"])
@pytest.mark.parametrize("bad", BAD_INPUTS, ids=BAD_INPUT_IDS)
async def test_malformed_bytes_are_dead_lettered_and_the_next_event_is_applied(
    infra, db: Database, topic: str, bad: BadInput, batch: bool
) -> None:
    case = uuid.uuid4()
    healthy = scheduled(case, 1)
    positions = await produce_with_headers(
        infra.kafka_bootstrap,
        topic,
        [(bad.value, bad.headers), (healthy.to_json(), ())],
        key=str(case).encode(),
    )
    assert len({partition for partition, _ in positions}) == 1, "both share one partition"

    calls: Counter = Counter()
    async with consuming(
        db, infra.kafka_bootstrap, topic, effect_recorder(db, calls), batch=batch
    ) as consumer:
        await wait_for(
            lambda: _applied(db, healthy.event_id), what="the valid event behind the malformed one"
        )
    assert await effects_by_event(db) == Counter({str(healthy.event_id): 1})
    assert consumer.stats["dead_lettered"] == 1

    (dead,) = await read_topic(infra.kafka_bootstrap, f"{topic}.dlq", count=1, settle=0.3)
    headers = {name: value.decode("utf-8", "replace") for name, value in dead.headers}
    assert dead.value == bad.value, "the dead letter keeps the original bytes"
    assert bad.reason in headers["x-dlq-error"]
    assert (int(headers["x-dlq-original-partition"]), int(headers["x-dlq-original-offset"])) == positions[0]
    assert headers["x-dlq-tries"] == "1", "malformed bytes are never worth retrying"


async def _applied(db: Database, event_id: uuid.UUID) -> bool:
    return (await effects_by_event(db))[str(event_id)] == 1
