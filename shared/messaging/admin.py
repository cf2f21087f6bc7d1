"""Creates the registry's Kafka topics with their partition counts (topics are never auto-created)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from shared.contracts.topics import TOPICS, Topic


async def create_topics(
    bootstrap: str,
    topics: list[Topic],
    *,
    replication_factor: int = 1,
    timeout: float = 60.0,
    security: dict[str, Any] | None = None,
) -> list[str]:
    """Create every missing topic; returns the names created. Waits for the broker to answer."""
    deadline = time.monotonic() + timeout
    while True:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=10_000, **(security or {})
        )
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in topics if t.name not in existing]
            if missing:
                try:
                    await admin.create_topics(
                        [
                            NewTopic(
                                t.name, num_partitions=t.partitions, replication_factor=replication_factor
                            )
                            for t in missing
                        ]
                    )
                except TopicAlreadyExistsError:
                    pass  # another process created them in between: that is the goal
            return [t.name for t in missing]
        except (KafkaConnectionError, KafkaError, OSError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


def ensure_topics(
    bootstrap: str, topics: list[Topic] | None = None, *, security: dict[str, Any] | None = None
) -> list[str]:
    return asyncio.run(create_topics(bootstrap, list(topics or TOPICS.values()), security=security))
