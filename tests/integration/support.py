"""Helpers of the integration tests: the test database handle, a plain aiokafka reader
that checks what really reached Kafka, waiting, a running outbox relay, and a service running
in-process with a client of its API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cpnet.registry import definition_of, upgrade
from shared.messaging.broker import make_broker
from shared.messaging.relay import OutboxRelay
from shared.service import build_app
from shared.settings import Settings


def consumer_record(topic: str, partition: int, offset: int, value: bytes) -> ConsumerRecord:
    """A record as a consumer would have read it (for code that takes consumer records by hand)."""
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value),
        headers=(),
    )


@dataclass
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    metadata: MetaData
    schema: str

    @property
    def outbox(self) -> Table:
        return self.metadata.tables[f"{self.schema}.outbox"]

    @property
    def processed(self) -> Table:
        return self.metadata.tables[f"{self.schema}.processed_events"]

    @property
    def effects(self) -> Table:
        return self.metadata.tables[f"{self.schema}.effects"]


async def read_topic(
    bootstrap: str, topic: str, *, count: int, timeout: float = 20.0, settle: float = 0.0
) -> list[ConsumerRecord]:
    """Read a topic from its beginning with an independent client until `count` records
    arrived; with `settle`, keep reading that long afterwards to catch any extra ones."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(records) < count and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            records.extend(r for part in batch.values() for r in part)
        settle_until = loop.time() + settle
        while loop.time() < settle_until:
            batch = await consumer.getmany(timeout_ms=200)
            records.extend(r for part in batch.values() for r in part)
    finally:
        await consumer.stop()
    return records


async def wait_for(predicate: Callable[[], Awaitable[bool]], *, timeout: float = 20.0, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@asynccontextmanager
async def running_relay(
    db: Database, bootstrap: str, *, batch_size: int = 500, tracer_provider=None, **options
) -> AsyncIterator[OutboxRelay]:
    broker = make_broker(bootstrap, client_id="test-relay", tracer_provider=tracer_provider)
    await broker.connect()
    relay = OutboxRelay(
        engine=db.engine,
        outbox=db.outbox,
        broker=broker,
        batch_size=batch_size,
        poll_interval=0.05,
        **options,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield relay
    finally:
        stop.set()
        await task
        await broker.stop()


@asynccontextmanager
async def service_in_process(infra, name: str) -> AsyncIterator[httpx.AsyncClient]:
    """The service `name` built and started in this process (its migrations, broker, consumers and relay
    on the real stack), and a client of its HTTP API that sees its 5xx as answers."""
    settings = Settings(kafka_bootstrap=infra.kafka_bootstrap, database_url=infra.database_url)
    await asyncio.to_thread(upgrade, name, infra.database_url)
    app = build_app(definition_of(name), settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{name}") as client:
            yield client
