"""The outbox relay: publishes committed outbox rows to Kafka in order, then marks them;
when idle, the leader also keeps the schema's messaging tables trim: outbox rows published
longer ago than their retention, and de-duplication records older than theirs.

A crash between publishing and marking re-publishes those rows on restart: delivery is
at-least-once, and consumers make the effect exactly-once (shared.messaging.consumer).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence
from datetime import timedelta

import structlog
from faststream.kafka import KafkaBroker
from sqlalchemy import Row, Table, delete, func, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.outage import DATABASE, KAFKA, OUTAGES, Throttle
from shared.telemetry import restored_trace

log = structlog.get_logger(__name__)


class OutboxRelay:
    """One relay per service schema publishes at a time (a PostgreSQL advisory lock elects
    it), which is what keeps each case's events in the order they were committed."""

    PURGE_BATCH = 10_000

    def __init__(self, *, engine: AsyncEngine, outbox: Table, broker: KafkaBroker,
                 batch_size: int = 500, poll_interval: float = 0.05, retention: timedelta | None = None,
                 purge_every_s: float = 300.0, processed: Table | None = None,
                 processed_retention: timedelta | None = None) -> None:
        self.engine = engine
        self.outbox = outbox
        self.broker = broker
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        # Published rows are kept this long (to look into recent traffic), then deleted;
        # None keeps them (a role that may not delete, or a test that inspects them).
        self.retention = retention
        self.purge_every_s = purge_every_s
        # Consumers' de-duplication records (processed_events) are needed only while Kafka
        # could still deliver their message again: keep them longer than the topics' retention.
        self.processed = processed
        self.processed_retention = processed_retention
        self.lock_key = zlib.crc32(f"cpnet.outbox:{outbox.fullname}".encode())
        self._wake = asyncio.Event()
        self._next_purge = 0.0
        self.published = 0  # events this process published (GET /metrics)
        self._bugs = Throttle(60.0)  # an unexpected error's traceback, once a minute per kind

    def wake(self) -> None:
        """Called after a commit that wrote events, so they leave without waiting a poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with self.engine.connect() as conn:
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                    try:
                        if not await self._lead(conn, stop):
                            return
                        while not stop.is_set():
                            relayed = await self.relay_batch(conn)
                            OUTAGES.back(DATABASE)
                            if relayed < self.batch_size:
                                await self._purge_when_due(conn)
                                await self._idle(stop)
                    finally:
                        # The leadership lock lives as long as the session: close the
                        # connection rather than hand a lock-holding one back to the pool.
                        await conn.invalidate()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # back off and retry, never die
                outage = OUTAGES.lost(exc, default=DATABASE, table=self.outbox.fullname)
                if not outage and self._bugs.admit(type(exc)):
                    log.exception("outbox relay failed, retrying", table=self.outbox.fullname)
                await _sleep_or_stop(stop, 1.0)

    async def _lead(self, conn: AsyncConnection, stop: asyncio.Event) -> bool:
        while not stop.is_set():
            got = await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.lock_key})
            if got:
                return True
            await _sleep_or_stop(stop, 1.0)
        return False

    async def _idle(self, stop: asyncio.Event) -> None:
        self._wake.clear()
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        await asyncio.wait(waiters, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    async def relay_batch(self, conn: AsyncConnection) -> int:
        """Publish one batch of pending rows and mark them; returns how many."""
        rows = await self.fetch_pending(conn)
        if rows:
            await self.publish(rows)
            OUTAGES.back(KAFKA)
            await self.mark_published(conn, rows)
            self.published += len(rows)
        return len(rows)

    async def fetch_pending(self, conn: AsyncConnection) -> Sequence[Row]:
        o = self.outbox.c
        query = select(self.outbox).where(o.published_at.is_(None)).order_by(o.seq).limit(self.batch_size)
        return (await conn.execute(query)).all()

    async def publish(self, rows: Sequence[Row]) -> None:
        """Enqueue every row in order, then wait for the broker to acknowledge them all."""
        pending = []
        for row in rows:
            headers = {
                "event_id": str(row.event_id),
                "event_type": row.event_type,
                "schema_version": str(row.schema_version),
            }
            if row.traceparent:
                headers["traceparent"] = row.traceparent
            with restored_trace(row.traceparent, row.tracestate):
                pending.append(
                    await self.broker.publish(
                        row.payload.encode(),
                        topic=row.topic,
                        key=row.aggregate_id.encode(),
                        headers=headers,
                        correlation_id=str(row.event_id),
                        no_confirm=True,
                    )
                )
        await asyncio.gather(*pending)

    async def _purge_when_due(self, conn: AsyncConnection) -> None:
        now = asyncio.get_running_loop().time()
        if now < self._next_purge:
            return
        self._next_purge = now + self.purge_every_s
        if self.retention is not None:
            purged = await self.purge_published(conn, self.retention)
            if purged:
                log.info("published outbox rows purged", table=self.outbox.fullname, count=purged)
        if self.processed is not None and self.processed_retention is not None:
            forgotten = await self.purge_processed(conn, self.processed_retention)
            if forgotten:
                log.info("old de-duplication records purged", table=self.processed.fullname, count=forgotten)

    async def purge_processed(self, conn: AsyncConnection, retention: timedelta) -> int:
        """Delete de-duplication records older than `retention`, in batches."""
        return await self._delete_in_batches(conn, self.processed, self.processed.c.processed_at, retention)

    async def _delete_in_batches(self, conn: AsyncConnection, table: Table, moment, retention: timedelta) -> int:
        """Delete the rows of `table` whose `moment` is more than `retention` ago (a null one
        never is), PURGE_BATCH at a time so no statement holds locks long. Returns how many."""
        key = tuple_(*table.primary_key.columns)
        purged = 0
        while True:
            doomed = select(*table.primary_key.columns).where(moment < func.now() - retention).limit(self.PURGE_BATCH)
            result = await conn.execute(delete(table).where(key.in_(doomed)))
            purged += result.rowcount
            if result.rowcount < self.PURGE_BATCH:
                return purged

    async def purge_published(self, conn: AsyncConnection, retention: timedelta) -> int:
        """Delete rows published more than `retention` ago, in batches; never a pending
        row (its published_at is null). Returns how many went."""
        return await self._delete_in_batches(conn, self.outbox, self.outbox.c.published_at, retention)

    async def mark_published(self, conn: AsyncConnection, rows: Sequence[Row]) -> None:
        o = self.outbox.c
        await conn.execute(
            update(self.outbox).where(o.event_id.in_([row.event_id for row in rows])).values(published_at=func.now())
        )


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
