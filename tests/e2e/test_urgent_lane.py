"""An emergency does not wait behind a crowd (issue 22): a report of a child in immediate danger, sent
after thousands of ordinary reports on the hotline topic, is stored by intake's urgent lane before the
crowd has been — and every report, the emergency's included, is stored exactly once. (How much sooner
is `cpnet bench surge`'s to measure, never asserted here.)"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter

from aiokafka import AIOKafkaProducer

from shared.contracts.hotline import HotlineReport
from shared.sample_reports import SampleReport, realistic_reports, villages
from shared.territory.registry import load_territory
from tests.e2e.conftest import RunningServices
from tests.e2e.test_intake_assessment import REPORTED
from tests.e2e.watch import TopicWatcher

CROWD = 3000


async def send_crowd_then(bootstrap: str, crowd: list[SampleReport], *late: SampleReport) -> None:
    """The crowd on the hotline topic as fast as the producer goes, then each of `late` once the
    broker has them all."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        sent = [await producer.send(HotlineReport.TOPIC, r.message()[1], key=r.message()[0]) for r in crowd]
        await asyncio.gather(*sent)
        for report in late:
            key, value = report.message()
            await producer.send_and_wait(HotlineReport.TOPIC, value, key=key)
    finally:
        await producer.stop()


async def test_an_emergency_sent_after_a_crowd_is_stored_before_the_crowd_and_each_report_once(
    infra, services: RunningServices
) -> None:
    rng, run = random.Random(22), uuid.uuid4().hex[:8]
    places = villages(load_territory(None))
    crowd = realistic_reports(CROWD, places=places, run=f"{run}c", rng=rng, danger_share=0.0)
    (emergency,) = realistic_reports(1, places=places, run=f"{run}e", rng=rng, danger_share=1.0)
    assert emergency.immediate_danger and not any(r.immediate_danger for r in crowd)
    ours = {r.external_id for r in [*crowd, emergency]}

    async with TopicWatcher(infra.kafka_bootstrap, [REPORTED]) as watcher:
        await send_crowd_then(infra.kafka_bootstrap, crowd, emergency)

        def stored() -> list[str]:
            return [
                s.json()["payload"]["external_id"]
                for s in watcher.matching(REPORTED)
                if s.json()["payload"]["external_id"] in ours
            ]

        deadline = asyncio.get_running_loop().time() + 600
        while set(stored()) != ours:
            assert asyncio.get_running_loop().time() < deadline, f"{len(set(stored()))} of {len(ours)} stored"
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)  # time for a second case.reported of any report to show

    order = stored()
    assert Counter(order).most_common(1)[0][1] == 1, "each report stored once, whichever lane took it"
    assert order.index(emergency.external_id) < len(order) - 1 - CROWD // 2, (
        "the emergency was stored before at least half of the crowd sent ahead of it"
    )
