"""The transactional outbox: events are rows written in the same transaction as the state
change that caused them, so a rolled-back change can never publish anything."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.envelope import Envelope
from shared.contracts.topics import topic_for_event
from shared.telemetry import current_trace_headers


async def add_events(
    session: AsyncSession,
    outbox: Table,
    *events: Envelope,
    topic: str | None = None,
    traces: Sequence[dict[str, str]] | None = None,
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
            }
            for event, trace in zip(events, traces, strict=True)
        ],
    )
