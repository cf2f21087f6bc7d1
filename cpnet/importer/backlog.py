"""The live lane: a screening import waits while the stages a survey row flows through have more
than a bounded backlog, so a live report (which shares those stages after intake) never queues
behind a county's whole survey. The backlog is Kafka's own lag: each stage's consumer group's
committed offset behind the end of the topic it reads. Intake's screening consumer is the
import's own (live reports have another), so its bound only keeps the file from flooding the
topic; the stages after it are shared with live reports, and their bound is the one that
decides how long a red report can wait."""

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
OWN_STAGE = ("intake.screening", ScreeningRecord.TOPIC)
SHARED_STAGES = (
    ("assessment.reported", CaseReported.TOPIC),
    ("referral.assessed", CaseAssessed.TOPIC),
    ("followup.assessed", CaseAssessed.TOPIC),
)
POLL_S = 0.05


class Backlog:
    """Reads the stages' lag; `wait_below` holds the import while it is over the limit."""

    def __init__(
        self,
        settings: Settings,
        own: tuple[str, str] = OWN_STAGE,
        shared: tuple[tuple[str, str], ...] = SHARED_STAGES,
    ) -> None:
        self.own, self.shared = own, shared
        self.stages = (own, *shared)
        self.settings = settings
        self._groups: dict[str, AIOKafkaConsumer] = {}
        self._partitions: dict[str, list[TopicPartition]] = {}

    async def __aenter__(self) -> Backlog:
        for group, _topic in self.stages:
            # Never subscribed: the consumer only reads the group's committed offsets, and
            # never joins the group (which would take partitions from the service).
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.settings.kafka_bootstrap,
                group_id=group,
                enable_auto_commit=False,
                client_id="cpnet-screening-import-backlog",
                **client_security(self.settings),
            )
            await consumer.start()
            self._groups[group] = consumer
        return self

    async def _partitions_of(self, topic: str) -> list[TopicPartition]:
        """The topic's partitions (none while it does not exist yet: nothing is queued there)."""
        if not self._partitions.get(topic):
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.settings.kafka_bootstrap,
                client_id="cpnet-screening-import-backlog",
                **client_security(self.settings),
            )
            await admin.start()
            try:
                (described,) = await admin.describe_topics([topic])
            finally:
                await admin.close()
            self._partitions[topic] = [
                TopicPartition(topic, p["partition"])
                for p in sorted(described["partitions"], key=lambda p: p["partition"])
            ]
        return self._partitions[topic]

    async def __aexit__(self, *exc) -> None:
        for consumer in self._groups.values():
            await consumer.stop()

    async def lag(self, group: str, topic: str) -> int:
        """Records committed to the topic and not yet committed by the group."""
        partitions = await self._partitions_of(topic)
        if not partitions:
            return 0
        ends = await self._groups[group].end_offsets(partitions)
        committed = [await self._groups[group].committed(tp) or 0 for tp in partitions]
        return sum(max(ends[tp] - done, 0) for tp, done in zip(partitions, committed, strict=True))

    async def size(self) -> tuple[int, int]:
        """The backlog before the import's own stage, and before the stages shared with live reports."""
        return await self.lag(*self.own), sum([await self.lag(*stage) for stage in self.shared])

    async def wait_below(
        self,
        own_limit: int,
        shared_limit: int,
        waiting: Callable[[int | None], None],
        stop: asyncio.Event | None = None,
    ) -> None:
        """Return once both backlogs are within their limits; `waiting` is told the total while
        it waits and None when it goes on. A broker that cannot answer the question does not
        stop the import (the producer would fail on its own). A `stop` set ends the wait."""
        held = False
        while True:
            try:
                own, shared = await self.size()
            except KafkaError:
                break
            if own <= own_limit and shared <= shared_limit or stop is not None and stop.is_set():
                break
            held = True
            waiting(own + shared)
            await asyncio.sleep(POLL_S)
        if held:
            waiting(None)
