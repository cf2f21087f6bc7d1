"""The transactional outbox: events are rows written in the same transaction as the state
change that caused them, so a rolled-back change can never publish anything."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.envelope import Envelope
from shared.contracts.topics import topic_for_event
from shared.db.rows import any_of
from shared.telemetry import current_trace_headers


async def add_events(
    session: AsyncSession,
    outbox: Table,
    *events: Envelope,
    topic: str | None = None,
    traces: Sequence[dict[str, str]] | None = None,
    urgent: bool = False,
) -> None:
    """Stage events in the caller's open transaction; they publish only if it commits.

    Each event goes to its contract's topic unless `topic` names another (replays, tests).

    The current trace context is stored with each row so that the relay, later and
    perhaps in another process, publishes the event inside the trace that caused it.
    """
    if not events:
        return
    # A batch passes each event's own trace (the one that caused it); otherwise the current.
    if traces is None:
        traces = [current_trace_headers()] * len(events)
    lane = {"urgent": True} if urgent else {}  # an ordinary row leaves the column to its default
    await session.execute(
        insert(outbox),
        [
            {
                "event_id": event.event_id,
                "aggregate_id": str(event.case_id),
                "topic": topic or topic_for_event(event.payload),
                "event_type": event.event_type,
                "schema_version": event.schema_version,
                "payload": event.to_json().decode(),
                "traceparent": trace.get("traceparent"),
                "tracestate": trace.get("tracestate"),
                **lane,
            }
            for event, trace in zip(events, traces, strict=True)
        ],
    )


async def add_urgent_events(
    session: AsyncSession, outbox: Table, events: Sequence[Envelope], traces: Sequence[dict[str, str]]
) -> None:
    """Stage an urgent lane's events for the urgent relay, and with them every row of the same cases
    still pending in the ordinary lane: those were committed first, so they are published first, in
    `seq` order, by the relay that publishes the emergency's (shared/messaging/relay.py). The
    ordinary relay holds back a case's later rows while it has urgent ones pending, so no topic
    sees a case's events out of the order they were committed in."""
    if not events:
        return
    o = outbox.c
    cases = sorted({str(event.case_id) for event in events})
    await session.execute(
        update(outbox)
        .where(any_of(o.aggregate_id, cases), o.published_at.is_(None), ~o.urgent)
        .values(urgent=True)
    )
    await add_events(session, outbox, *events, traces=traces, urgent=True)
