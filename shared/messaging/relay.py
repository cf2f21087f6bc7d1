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
from aiokafka.errors import KafkaConnectionError
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from sqlalchemy import (
    Row,
    Table,
    Text,
    all_,
    any_,
    bindparam,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.messaging.broker import kafka_producer
from shared.outage import DATABASE, KAFKA, OUTAGES, Throttle
from shared.telemetry import RELAY_TRACER, context_headers, listened, stored_context, stored_headers

log = structlog.get_logger(__name__)

# How long the ordinary relay leaves a case to the urgent one: while a case has an urgent row pending
# younger than this, its later rows wait (so no topic sees them before the emergency's); an urgent
# row older than this, the urgent relay has not published — its process is down — and the ordinary
# relay publishes it itself, in `seq` order with the rest.
URGENT_HANDOVER = timedelta(seconds=10)


class OutboxRelay:
    """One relay per service schema publishes at a time (a PostgreSQL advisory lock elects
    it), which is what keeps each case's events in the order they were committed.

    Woken by a commit, it gathers for `gather_s` before it reads the outbox, so a burst of
    small commits leaves in one round (up to `batch_size` rows) rather than in one round each.

    With `urgent`, it is the urgent lane's relay: it publishes only the rows an urgent lane staged
    (shared/messaging/outbox.py `add_urgent_events`), under a lock of its own, so an emergency's
    events never wait behind the ordinary backlog; the ordinary relay passes over the cases it
    holds until it has published them (or URGENT_HANDOVER has gone by).
    """

    PURGE_BATCH = 10_000

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        outbox: Table,
        broker: KafkaBroker,
        batch_size: int = 500,
        poll_interval: float = 0.05,
        gather_s: float = 0.005,
        retention: timedelta | None = None,
        purge_every_s: float = 300.0,
        processed: Table | None = None,
        processed_retention: timedelta | None = None,
        urgent: bool = False,
        handover: timedelta = URGENT_HANDOVER,
    ) -> None:
        self.engine = engine
        self.outbox = outbox
        self.broker = broker
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.gather_s = gather_s
        # Published rows are kept this long (to look into recent traffic), then deleted;
        # None keeps them (a role that may not delete, or a test that inspects them).
        self.retention = retention
        self.purge_every_s = purge_every_s
        # Consumers' de-duplication records (processed_events) are needed only while Kafka
        # could still deliver their message again: keep them longer than the topics' retention.
        self.processed = processed
        self.processed_retention = processed_retention
        self.urgent = urgent
        lane = ":urgent" if urgent else ""
        self.lock_key = zlib.crc32(f"cpnet.outbox:{outbox.fullname}{lane}".encode())
        self._wake = asyncio.Event()
        self._next_purge = 0.0
        self.published = 0  # events this process published (GET /metrics)
        self.rounds = 0  # batches it published, each one fetch, one wait for the acks, one mark
        self._bugs = Throttle(60.0)  # an unexpected error's traceback, once a minute per kind
        # Built once: a round's cost should be its rows' publishing, not building statements.
        o = outbox.c
        self._pending = (
            select(outbox)
            .where(*_lane(outbox, urgent=urgent, handover=handover))
            .order_by(o.seq)
            .limit(batch_size)
        )
        published = o.event_id == any_(bindparam("event_ids", type_=ARRAY(o.event_id.type)))
        self._mark = update(outbox).where(published).values(published_at=func.now())

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
                            # Cleared before the round, so a commit during it wakes the next.
                            self._wake.clear()
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
        """Until a commit wakes the relay (or the next poll), then `gather_s` more: the other
        commits of a burst land meanwhile and leave in the same round."""
        if not self._wake.is_set():
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
        if self._wake.is_set() and self.gather_s > 0:
            await _sleep_or_stop(stop, self.gather_s)

    async def relay_batch(self, conn: AsyncConnection) -> int:
        """Publish one batch of pending rows and mark them; returns how many."""
        rows = await self.fetch_pending(conn)
        if rows:
            await self.publish(rows)
            OUTAGES.back(KAFKA)
            await self.mark_published(conn, rows)
            self.published += len(rows)
            self.rounds += 1
        return len(rows)

    async def fetch_pending(self, conn: AsyncConnection) -> Sequence[Row]:
        return (await conn.execute(self._pending)).all()

    async def publish(self, rows: Sequence[Row]) -> None:
        """Enqueue every row in order, then wait for the broker to acknowledge them all.

        Straight to the aiokafka producer under the broker: FastStream's publish path (its
        command objects and telemetry middleware, two spans a message) cost five times the
        send itself. The relay opens the one publish span per row, child of the trace the row
        was committed in, and sends that span's context as the `traceparent` header.
        """
        producer = kafka_producer(self.broker)
        if producer is None:
            raise KafkaConnectionError("the relay's broker is not connected")
        spans, acks = [], []
        traced = listened()
        try:
            for row in rows:
                if traced:
                    span = _publish_span(RELAY_TRACER, row)
                    spans.append(span)
                    trace_headers = context_headers(span)
                else:  # no span nobody would see: the row's own trace context travels on
                    trace_headers = stored_headers(row.traceparent, row.tracestate)
                ack = await producer.send(
                    row.topic,
                    row.payload.encode(),
                    key=row.aggregate_id.encode(),
                    headers=_headers(row, trace_headers),
                )
                acks.append(ack)
            await asyncio.gather(*acks)
        finally:
            for span in spans:
                span.end()

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

    async def _delete_in_batches(
        self, conn: AsyncConnection, table: Table, moment, retention: timedelta
    ) -> int:
        """Delete the rows of `table` whose `moment` is more than `retention` ago (a null one
        never is), PURGE_BATCH at a time so no statement holds locks long. Returns how many."""
        key = tuple_(*table.primary_key.columns)
        purged = 0
        while True:
            doomed = (
                select(*table.primary_key.columns)
                .where(moment < func.now() - retention)
                .limit(self.PURGE_BATCH)
            )
            result = await conn.execute(delete(table).where(key.in_(doomed)))
            purged += result.rowcount
            if result.rowcount < self.PURGE_BATCH:
                return purged

    async def purge_published(self, conn: AsyncConnection, retention: timedelta) -> int:
        """Delete rows published more than `retention` ago, in batches; never a pending
        row (its published_at is null). Returns how many went."""
        return await self._delete_in_batches(conn, self.outbox, self.outbox.c.published_at, retention)

    async def mark_published(self, conn: AsyncConnection, rows: Sequence[Row]) -> None:
        await conn.execute(self._mark, {"event_ids": [row.event_id for row in rows]})


def _lane(outbox: Table, *, urgent: bool, handover: timedelta) -> list:
    """Which pending rows a relay publishes: the urgent lane's its own; the ordinary one every other,
    save the cases the urgent lane holds (an urgent row of theirs pending, younger than the handover)."""
    o = outbox.c
    if urgent:
        return [o.urgent, o.published_at.is_(None)]
    recent = func.now() - handover
    # The cases held, found once a round (an array the planner cannot turn into a join that scans
    # the pending rows once for each row it returns): none, almost always.
    u = outbox.alias("held").c
    held = select(func.array_agg(u.aggregate_id)).where(
        u.urgent, u.published_at.is_(None), u.created_at > recent
    )
    held_cases = func.coalesce(held.scalar_subquery(), literal([], ARRAY(Text)))
    return [
        o.published_at.is_(None),
        or_(~o.urgent, o.created_at <= recent),
        o.aggregate_id != all_(held_cases),
    ]


def _publish_span(tracer: trace.Tracer, row: Row) -> trace.Span:
    """The row's publish span, child of the stored trace context (a new trace if it has none)."""
    return tracer.start_span(
        f"{row.topic} publish",
        context=stored_context(row.traceparent, row.tracestate),
        kind=trace.SpanKind.PRODUCER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation": "publish",
            "messaging.destination.name": row.topic,
        },
    )


def _headers(row: Row, trace_headers: dict[str, str]) -> list[tuple[str, bytes]]:
    """The headers the AsyncAPI document promises: event id, type, version and trace context."""
    headers = {
        "content-type": "application/json",
        "event_id": str(row.event_id),
        "event_type": row.event_type,
        "schema_version": str(row.schema_version),
        **trace_headers,
    }
    return [(name, value.encode()) for name, value in headers.items()]


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
