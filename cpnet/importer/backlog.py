"""The live lane: a screening import waits while the stages a survey row flows through have more
than a bounded backlog, so a live report (which shares those stages after intake) never queues
behind a county's whole survey. The backlog is Kafka's own lag: each stage's consumer group's
committed offset behind the end of the topic it reads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from shared.contracts.events import CaseAssessed, CaseReported
from shared.contracts.screening import ScreeningRecord
from shared.messaging.security import client_security
from shared.settings import Settings

# (consumer group, topic) of every stage a survey row passes on its way to a visit plan; the
# groups are the services' consumer names (services/*/service.py).
STAGES = (
    ("intake.screening", ScreeningRecord.TOPIC),
    ("assessment.reported", CaseReported.TOPIC),
    ("referral.assessed", CaseAssessed.TOPIC),
    ("followup.assessed", CaseAssessed.TOPIC),
)
POLL_S = 0.05


class Backlog:
    """Reads the stages' lag; `wait_below` holds the import while it is over the limit."""

    def __init__(self, settings: Settings, stages: tuple[tuple[str, str], ...] = STAGES) -> None:
        self.stages = stages
        self.settings = settings
        self._groups: dict[str, AIOKafkaConsumer] = {}
        self._partitions: dict[str, list[TopicPartition]] = {}

    async def __aenter__(self) -> Backlog:
        for group, topic in self.stages:
            # Never subscribed: the consumer only reads the group's committed offsets, and
            # never joins the group (which would take partitions from the service).
            consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap, group_id=group,
                                        enable_auto_commit=False, client_id="cpnet-screening-import-backlog",
                                        **client_security(self.settings))
            await consumer.start()
            self._groups[group] = consumer
        return self

    async def _partitions_of(self, topic: str) -> list[TopicPartition]:
        """The topic's partitions (none while it does not exist yet: nothing is queued there)."""
        if not self._partitions.get(topic):
            admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap,
                                        client_id="cpnet-screening-import-backlog", **client_security(self.settings))
            await admin.start()
            try:
                (described,) = await admin.describe_topics([topic])
            finally:
                await admin.close()
            self._partitions[topic] = [TopicPartition(topic, p["partition"])
                                       for p in sorted(described["partitions"], key=lambda p: p["partition"])]
        return self._partitions[topic]

    async def __aexit__(self, *exc) -> None:
        for consumer in self._groups.values():
            await consumer.stop()

    async def size(self) -> int:
        """Records committed to the stages' topics and not yet committed by their groups."""
        total = 0
        any_consumer = next(iter(self._groups.values()))
        for group, topic in self.stages:
            partitions = await self._partitions_of(topic)
            if not partitions:
                continue
            ends = await any_consumer.end_offsets(partitions)
            consumer = self._groups[group]
            for tp in partitions:
                committed = await consumer.committed(tp) or 0
                total += max(ends[tp] - committed, 0)
        return total

    async def wait_below(self, limit: int, waiting: Callable[[int | None], None]) -> None:
        """Return once the backlog is at most `limit`; `waiting` is told the backlog while it
        waits and None when it goes on. A broker that cannot answer the question does not stop
        the import (the producer would fail on its own)."""
        held = False
        while True:
            try:
                backlog = await self.size()
            except KafkaError:
                break
            if backlog <= limit:
                break
            held = True
            waiting(backlog)
            await asyncio.sleep(POLL_S)
        if held:
            waiting(None)
