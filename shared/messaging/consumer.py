"""Idempotent Kafka consumers: each event's effect commits once, in the same transaction as
the record that it was processed; offsets are committed only after that transaction.

A message that keeps failing is retried a bounded number of times and then dead-lettered to
`<topic>.dlq` with the reason, so the partition keeps flowing. FastStream hands over the raw
record untouched (no header or body decoding of its own, which would fail outside this path):
every byte a producer can send is judged here, and bytes that are not acceptable JSON (empty,
over-size, not UTF-8, nested too deep, duplicate keys, absurd numbers) are dead-lettered at
once. Infrastructure failures (the database or broker not answering) are not the message's
fault: they are never dead-lettered; the message is rewound and tried again once it is back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import ValidationError
from sqlalchemy import Table, TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.contracts.envelope import Envelope, parse_event
from shared.contracts.strict_json import MAX_DEPTH, MAX_MESSAGE_BYTES, inspect_json
from shared.contracts.topics import dlq_topic
from shared.errors import INFRASTRUCTURE_ERRORS
from shared.outage import DATABASE, OUTAGES, dependency_of
from shared.telemetry import event_span

log = structlog.get_logger(__name__)

EventT = TypeVar("EventT")


@dataclass(frozen=True)
class Delivery:
    """Where a message came from, for handlers that record it and for dead letters."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: dict[str, str]

    @classmethod
    def of(cls, record: ConsumerRecord) -> Delivery:
        headers = {name: (value or b"").decode("utf-8", "replace") for name, value in (record.headers or ())}
        return cls(record.topic, record.partition, record.offset, record.key, headers)


Handler = Callable[[AsyncSession, EventT, Delivery], Awaitable[None]]
# All the fresh events of one transaction at once, in offset order (per-case order holds:
# one case's events share a partition).
BatchHandler = Callable[[AsyncSession, Sequence[tuple[EventT, Delivery]]], Awaitable[None]]


@dataclass
class IdempotentConsumer(Generic[EventT]):
    """One logical consumer (a name, a topic, a handler) bound to a service's database.

    `parse` turns raw bytes into the event (raising a poison error when they are not one);
    `event_id` names it for de-duplication; `after_commit` runs once its effect committed
    (e.g. to wake the outbox relay).
    """

    name: str
    topic: str | tuple[str, ...]  # one topic, or several read by one consumer group
    handler: Handler[EventT] | None  # one event at a time, or None with `batch_handler`
    session_factory: async_sessionmaker[AsyncSession]
    processed: Table
    broker: KafkaBroker
    parse: Callable[[bytes], EventT] = parse_event  # type: ignore[assignment]
    # Instead of `parse`, for consumers that need where a message came from (the audit ledger).
    parse_record: Callable[[ConsumerRecord], EventT] | None = None
    event_id: Callable[[EventT], str] = lambda event: str(event.event_id)  # type: ignore[attr-defined]
    max_tries: int = 3
    retry_backoff: float = 0.2
    after_commit: Callable[[], None] | None = None
    infrastructure_backoff: float = 1.0
    batch: bool = False  # take up to 500 records in one transaction
    # Errors (of the handler) that mean "never valid": dead-lettered at once. Any error of
    # `parse` is: parsing does no I/O, so only the message can be at fault.
    poison: tuple[type[BaseException], ...] = ()
    # The gate of shared.contracts.strict_json, before `parse` sees the bytes. Off only for a
    # consumer that must record even malformed messages itself (the audit ledger).
    inspect: bool = True
    max_bytes: int = MAX_MESSAGE_BYTES
    max_depth: int = MAX_DEPTH
    # Instead of `handler`: decides a whole batch in one pass (load once, decide each, save once).
    batch_handler: BatchHandler[EventT] | None = None
    # False only where the handler's own writes are keyed by the event, so that applying an event
    # again changes nothing by itself (the ledger's unique event keys; upserts of a state the event
    # names): the de-duplication row and its statement are then work that protects nothing.
    claim: bool = True
    # The consumer group it reads with (default: its name). A second group under the same name is a
    # lane of the same consumer: it claims event ids under the name, so whichever lane applies an
    # event first applies it, and the other skips it as a duplicate.
    group: str | None = None
    # A lane that takes only some of its topics' messages (judged on the bytes, before anything is
    # parsed): the others are skipped unread, as the consumer's other lane applies them.
    keep: Callable[[bytes], bool] | None = None
    # False for such a lane: a message it cannot apply is left to the consumer's other lane, which
    # reads every message in order and dead-letters it once (never twice, once by each lane).
    dead_letters: bool = True
    # received, applied, duplicates, dead_lettered, isolated (retried one by one after their batch failed)
    stats: Counter = field(default_factory=Counter, init=False)
    subscriber: Any = field(default=None, init=False)  # FastStream's, once subscribed
    _batched: bool = field(default=False, init=False)

    # ---- wiring ----------------------------------------------------------------------
    def subscribe(
        self, *, batch: bool | None = None, max_records: int = 500, group_id: str | None = None
    ) -> None:
        """Register on the broker. The ack policy is explicit: commit after success, rewind
        on error (we never let an error escape except for infrastructure failures)."""
        options: dict[str, Any] = {
            "group_id": group_id or self.label,
            # A lane that keeps some messages starts where the topic ends: the other lane applies
            # every earlier one, and a first start does not read the whole history for nothing.
            "auto_offset_reset": "latest" if self.keep is not None else "earliest",
            "ack_policy": AckPolicy.NACK_ON_ERROR,
            "parser": _untouched_records,
            "decoder": _no_decoding,
        }
        self._batched = self.batch if batch is None else batch
        if self._batched:
            options.update(batch=True, max_records=max_records, batch_timeout_ms=50)

        async def on_message(message: KafkaMessage) -> None:
            records = message.raw_message
            await self.consume(records if isinstance(records, tuple) else (records,))

        topics = (self.topic,) if isinstance(self.topic, str) else self.topic
        on_message.__name__ = f"consume_{self.name}".replace(".", "_").replace("-", "_")
        self.subscriber = self.broker.subscriber(*topics, **options)
        self.subscriber(on_message)

    @property
    def label(self) -> str:
        """How the consumer is named in its metrics and its consumer group."""
        return self.group or self.name

    async def lag(self) -> int | None:
        """Records on this process's partitions not yet handed to the handler (Kafka's
        records-lag: high watermark minus position), or None before the first fetch."""
        consumer = getattr(self.subscriber, "consumer", None)
        if consumer is None:
            return None
        total, known = 0, False
        for partition in consumer.assignment():
            highwater = consumer.highwater(partition)
            if highwater is None:
                continue
            try:
                position = await asyncio.wait_for(consumer.position(partition), timeout=1.0)
            except (TimeoutError, KafkaError):
                continue
            total, known = total + max(highwater - position, 0), True
        return total if known else None

    @functools.cached_property
    def _claim(self) -> TextClause:
        """Claim a batch's event ids with one statement of fixed text (arrays, not one set of
        parameters per row): built once, prepared once by the driver, whatever the batch size."""
        p = self.processed
        return text(
            f'INSERT INTO {_quoted(p)} (consumer, event_id, topic, partition, "offset") '
            "SELECT :consumer, * FROM unnest(CAST(:event_ids AS text[]), CAST(:topics AS text[]), "
            "CAST(:partitions AS integer[]), CAST(:offsets AS bigint[])) "
            "ON CONFLICT DO NOTHING RETURNING event_id"
        )

    # ---- processing ------------------------------------------------------------------
    async def consume(self, records: Sequence[ConsumerRecord]) -> None:
        """Process records (one, or a batch in one transaction) with exactly-once effect."""
        parsed: list[tuple[EventT, Delivery]] = []
        if self.keep is not None:
            records = [record for record in records if self.keep(record.value or b"")]
        self.stats["received"] += len(records)
        for record in records:
            delivery = Delivery.of(record)
            try:
                if self.inspect:
                    inspect_json(record.value or b"", max_bytes=self.max_bytes, max_depth=self.max_depth)
                event = self.parse_record(record) if self.parse_record else self.parse(record.value or b"")
                parsed.append((event, delivery))
            except Exception as exc:  # noqa: BLE001 - whatever the bytes provoke, they are dead-lettered
                await self.dead_letter(record, exc, tries=1)
        if not parsed:
            return
        if len(parsed) == 1:
            await self._process_with_retries(*parsed[0], record=_record_of(records, parsed[0][1]))
            return
        try:
            await self._apply(parsed)
        except Exception as exc:
            if is_infrastructure(exc):
                OUTAGES.lost(exc, default=DATABASE, consumer=self.name)
                await asyncio.sleep(self.infrastructure_backoff)
                raise
            # One event spoiled the batch: isolate it by processing them one at a time.
            self.stats["isolated"] += len(parsed)
            for event, delivery in parsed:
                await self._process_with_retries(event, delivery, record=_record_of(records, delivery))

    async def _process_with_retries(
        self, event: EventT, delivery: Delivery, *, record: ConsumerRecord
    ) -> None:
        for attempt in range(1, self.max_tries + 1):
            try:
                await self._apply([(event, delivery)])
                return
            except Exception as exc:
                if is_infrastructure(exc):
                    # Said once per outage (shared.outage), not once per retry; the message waits.
                    OUTAGES.lost(
                        exc,
                        default=DATABASE,
                        consumer=self.name,
                        topic=delivery.topic,
                        partition=delivery.partition,
                        offset=delivery.offset,
                    )
                    await asyncio.sleep(self.infrastructure_backoff)
                    raise
                if attempt == self.max_tries or isinstance(exc, self.poison):
                    await self.dead_letter(record, exc, tries=attempt)
                    return
                log.info(
                    "handler failed, retrying",
                    consumer=self.name,
                    topic=delivery.topic,
                    partition=delivery.partition,
                    offset=delivery.offset,
                    attempt=attempt,
                    error=type(exc).__name__,
                )
                await asyncio.sleep(self.retry_backoff * 2 ** (attempt - 1))

    async def _apply(self, items: Sequence[tuple[EventT, Delivery]]) -> None:
        """One transaction: claim the event ids not yet processed, apply only those."""
        unique: dict[str, tuple[EventT, Delivery]] = {}
        for event, delivery in items:
            unique.setdefault(self.event_id(event), (event, delivery))
        # Claimed in event-id order: two lanes claiming the same ids take their locks in one order.
        claims = sorted(unique)
        deliveries = [unique[event_id][1] for event_id in claims]
        async with self.session_factory.begin() as session:
            fresh = (
                set(unique)
                if not self.claim
                else set(
                    (
                        await session.execute(
                            self._claim,
                            {
                                "consumer": self.name,
                                "event_ids": claims,
                                "topics": [d.topic for d in deliveries],
                                "partitions": [d.partition for d in deliveries],
                                "offsets": [d.offset for d in deliveries],
                            },
                        )
                    ).scalars()
                )
            )
            todo = [item for event_id, item in unique.items() if event_id in fresh]
            if self.batch_handler is not None:
                if todo:
                    await self.batch_handler(session, todo)
            else:
                for event, delivery in todo:
                    # A batch's span is a new trace: each event is handled inside its own
                    # (a batch_handler opens event_span itself, per event it decides).
                    with event_span(delivery) if self._batched else nullcontext():
                        await self.handler(session, event, delivery)
        self.stats["applied"] += len(fresh)
        self.stats["duplicates"] += len(items) - len(fresh)
        if fresh and self.after_commit is not None:
            self.after_commit()

    async def dead_letter(self, record: ConsumerRecord, exc: BaseException, *, tries: int) -> None:
        """Publish the original bytes to `<topic>.dlq`, confirmed before the offset moves on (a lane
        that does not dead-letter leaves the message to the other lane)."""
        if not self.dead_letters:
            self.stats["left_to_other_lane"] += 1
            log.info(
                "message left to the other lane",
                consumer=self.label,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                error=type(exc).__name__,
            )
            return
        headers = {k: v for k, v in Delivery.of(record).headers.items() if not k.startswith("x-dlq-")}
        headers.update(
            {
                "x-dlq-error": describe_error(exc),
                "x-dlq-consumer": self.name,
                "x-dlq-tries": str(tries),
                "x-dlq-original-topic": record.topic,
                "x-dlq-original-partition": str(record.partition),
                "x-dlq-original-offset": str(record.offset),
            }
        )
        await self.broker.publish(
            record.value or b"", topic=dlq_topic(record.topic), key=record.key, headers=headers
        )
        self.stats["dead_lettered"] += 1
        log.error(
            "message dead-lettered",
            consumer=self.name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            tries=tries,
            error=type(exc).__name__,
        )


def is_infrastructure(exc: BaseException) -> bool:
    """Whether an error means the database or broker is not answering (so the message must
    wait, never be dead-lettered). A server shutting down mid-transaction raises errors that
    are not OperationalError (asyncpg's AdminShutdown, an invalidated connection), which
    shared.outage recognises through the error's causes."""
    return isinstance(exc, INFRASTRUCTURE_ERRORS) or dependency_of(exc) is not None


def describe_error(exc: BaseException, limit: int = 1000) -> str:
    """A reason for a dead letter that never echoes the message's values back (they may be
    a child's personal data): validation errors name the field and the rule only."""
    if isinstance(exc, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']} [{err['type']}]"
            for err in exc.errors(include_input=False, include_url=False, include_context=False)
        ]
        text = f"ValidationError: {'; '.join(parts)}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text[:limit]


async def _untouched_records(
    message: ConsumerRecord | tuple[ConsumerRecord, ...], default_parser: Any
) -> Any:
    """FastStream's parser decodes every header as strict UTF-8 (and fails on a null one)
    before any handler runs; hand it headers that cannot fail. The bytes of the body are kept
    as they came, and Delivery.of reads headers the same forgiving way."""
    if isinstance(message, tuple):
        return await default_parser(tuple(_safe_headers(record) for record in message))
    return await default_parser(_safe_headers(message))


def _safe_headers(record: ConsumerRecord) -> ConsumerRecord:
    headers = record.headers or ()
    if all(isinstance(value, bytes) and value.isascii() for _, value in headers):
        return record
    safe = tuple((name, (value or b"").decode("utf-8", "replace").encode()) for name, value in headers)
    return dataclasses.replace(record, headers=safe)


async def _no_decoding(message: Any) -> None:
    """The body is never decoded by FastStream (a JSON content-type header would make it
    try): IdempotentConsumer.consume reads the raw records itself."""
    return None


def _quoted(table: Table) -> str:
    return ".".join(f'"{part}"' for part in (table.schema, table.name) if part)


def _record_of(records: Sequence[ConsumerRecord], delivery: Delivery) -> ConsumerRecord:
    return next(
        r
        for r in records
        if r.partition == delivery.partition and r.offset == delivery.offset and r.topic == delivery.topic
    )


def envelope_id(event: Envelope) -> str:
    return str(event.event_id)
