"""The screening import's live lane on the real broker: it holds while a stage's consumer group
has more records queued than the bound, says so, and goes on once the group has caught up."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from cpnet.importer.backlog import Backlog
from shared.settings import Settings


async def test_the_import_waits_until_the_stage_has_caught_up(infra, topic: str) -> None:
    group = f"test-stage-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for n in range(30):
            await producer.send(topic, b"{}", key=str(n).encode())
        await producer.flush()
    finally:
        await producer.stop()

    settings = Settings(kafka_bootstrap=infra.kafka_bootstrap)
    told: list[int | None] = []
    async with Backlog(settings, own=(f"{group}-own", topic), shared=((group, topic),)) as backlog:
        assert await backlog.size() == (30, 30), "a group that never committed has the whole topic before it"
        held = asyncio.create_task(backlog.wait_below(100, 10, told.append))
        await asyncio.sleep(1.0)
        assert not held.done(), "30 queued is over the bound of 10: the import holds"
        assert told and told[-1] == 60, "and says how many are queued"

        stage = AIOKafkaConsumer(
            topic,
            bootstrap_servers=infra.kafka_bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await stage.start()
        try:
            taken = 0
            while taken < 25:  # the stage works through most of it and commits
                batch = await stage.getmany(timeout_ms=1000)
                taken += sum(len(records) for records in batch.values())
            await stage.commit()
        finally:
            await stage.stop()
        await asyncio.wait_for(held, 10)
        assert told[-1] is None, "going on is said too"
        own, shared = await backlog.size()
        assert (own, shared <= 10) == (30, True), "each stage's lag is its own group's"
        own_stage_full = asyncio.create_task(backlog.wait_below(10, 100, told.append))
        await asyncio.sleep(0.5)
        assert not own_stage_full.done(), "the import's own stage has its own bound"
        own_stage_full.cancel()
