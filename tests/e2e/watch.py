"""A plain aiokafka reader for end-to-end tests: it attaches at the end of the given topics
before the test acts, so it sees exactly what happens afterwards."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition


@dataclass(frozen=True)
class Seen:
    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, str]
    timestamp_ms: int
    partition: int = -1
    offset: int = -1

    def json(self) -> dict:
        return json.loads(self.value)


class TopicWatcher:
    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.seen: list[Seen] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> TopicWatcher:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None)
        await consumer.start()
        partitions = [
            TopicPartition(topic, p)
            for topic in self.topics
            for p in sorted(consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))
        ]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for partition in partitions:  # resolve the end offsets now, before the test acts
            await consumer.position(partition)
        self._consumer = consumer
        self._task = asyncio.create_task(self._collect())
        return self

    async def _collect(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=100)
            for records in batch.values():
                for r in records:
                    headers = {k: (v or b"").decode("utf-8", "replace") for k, v in (r.headers or ())}
                    self.seen.append(
                        Seen(r.topic, r.key, r.value or b"", headers, r.timestamp, r.partition, r.offset)
                    )

    async def __aexit__(self, *exc) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer:
            await self._consumer.stop()

    def matching(self, topic: str, predicate: Callable[[Seen], bool] = lambda s: True) -> list[Seen]:
        return [s for s in self.seen if s.topic == topic and predicate(s)]

    async def wait_for(
        self,
        topic: str,
        predicate: Callable[[Seen], bool] = lambda s: True,
        *,
        count: int = 1,
        timeout: float = 20.0,
    ) -> list[Seen]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            found = self.matching(topic, predicate)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"saw {len(self.matching(topic, predicate))} of {count} expected messages on {topic} "
            f"within {timeout}s"
        )


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # the topic list is fetched lazily
    return consumer.partitions_for_topic(topic) or set()
