"""The trace context survives the outbox hop: an event written inside a request's trace is
published, later and from another task, inside that same trace, and the consumer's work
joins it too."""

from __future__ import annotations

import uuid

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from shared.contracts.envelope import Envelope
from shared.messaging.broker import make_broker
from shared.messaging.consumer import Delivery, IdempotentConsumer
from shared.telemetry import setup_tracing, trace_ids
from tests.integration.support import Database, read_topic, running_relay, wait_for
from tests.integration.test_outbox import commit_change, scheduled


async def test_traceparent_survives_the_outbox_hop(infra, db: Database, topic: str) -> None:
    exporter = InMemorySpanExporter()
    provider = setup_tracing("cpnet-test", processors=(SimpleSpanProcessor(exporter),))
    tracer = provider.get_tracer("test")

    event = scheduled(uuid.uuid4(), 1)
    with tracer.start_as_current_span("POST /v1/reports") as request_span:
        await commit_change(db, topic, event)
    trace_id = format(request_span.get_span_context().trace_id, "032x")

    # The relay runs outside any trace: only the stored context can link the publish.
    async with running_relay(db, infra.kafka_bootstrap, tracer_provider=provider):
        await wait_for(lambda: _published(db), what="the event to be published")

    (record,) = await read_topic(infra.kafka_bootstrap, topic, count=1, settle=0.5)
    traceparent = dict(record.headers)["traceparent"].decode()
    assert traceparent.split("-")[1] == trace_id, "the Kafka header carries the request's trace"

    seen: list[dict[str, str]] = []

    async def handle(session, envelope: Envelope, delivery: Delivery) -> None:
        seen.append(trace_ids())

    broker = make_broker(infra.kafka_bootstrap, client_id="test-traced-consumer", tracer_provider=provider)
    consumer = IdempotentConsumer(
        name="traced",
        topic=topic,
        handler=handle,
        session_factory=db.sessions,
        processed=db.processed,
        broker=broker,
    )
    consumer.subscribe(group_id=f"test-{uuid.uuid4().hex[:8]}")
    await broker.start()
    try:
        await wait_for(lambda: _true(bool(seen)), what="the consumer to handle the event")
    finally:
        await broker.stop()
    assert seen[0]["trace_id"] == trace_id, "the consumer's work joins the request's trace"

    spans = {
        format(s.context.trace_id, "032x") for s in exporter.get_finished_spans() if s.kind.name != "INTERNAL"
    }
    assert spans == {trace_id}, "the publish and process spans all belong to the one trace"


async def _published(db: Database) -> bool:
    async with db.engine.connect() as conn:
        return (await conn.scalar(select(db.outbox.c.published_at))) is not None


async def _true(value: bool) -> bool:
    return value
