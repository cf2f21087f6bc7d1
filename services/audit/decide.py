"""What entry the ledger makes of a message: pure functions, no I/O.

A message is read once (`read`): its bytes as JSON if they are, the headers worth keeping, and the
key the ledger knows it by. The rule (`recorded`) then says what its entry holds: where the message
was, when, the kept headers, and the event itself — an envelope as sent, anything else (bytes that
are no envelope, a dead letter's repeat of its original) by the SHA-256 of its bytes. Chaining the
entries (seq, link, hash) is the ledger's store's part (services/audit/ledger.py).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import ConsumerRecord
from pydantic import ValidationError

from services.audit.indicators import Happening, counted_on, happenings_of
from shared.contracts.envelope import ContractError, parse_event
from shared.contracts.strict_json import MalformedMessage, load_strict
from shared.unit_of_work import Decision

# Headers worth keeping: where an event came from and why a dead letter died.
KEPT_HEADERS = (
    "event_id",
    "event_type",
    "x-dlq-error",
    "x-dlq-original-topic",
    "x-dlq-original-partition",
    "x-dlq-original-offset",
    "x-dlq-tries",
    "x-dlq-consumer",
)


# Neither class is frozen: a frozen dataclass's __init__ sets each field through object.__setattr__,
# a cost the ledger (the pipeline's slowest stage) would pay twice a message. Nothing changes them.


@dataclass(slots=True)
class Received:
    """A message as the ledger read it: `envelope` is its JSON if that is an envelope (an object
    with an event id and type), `event_key` the key the ledger knows it by."""

    event_key: str
    case_id: uuid.UUID | None
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    headers: dict[str, str]
    envelope: dict[str, Any] | None
    value: bytes
    dead_letter: bool


@dataclass(slots=True)
class Message:
    """A message as the ledger records it: the entry's record (what its hash covers) and the
    columns it is found by."""

    event_key: str
    record: dict[str, Any]
    case_id: uuid.UUID | None
    event_type: str
    topic: str
    partition: int
    offset: int
    occurred_at: str | None
    # What a figure counts of it (services/audit/indicators.py): stored beside the entry, not hashed.
    happenings: tuple[Happening, ...] = ()


def read(record: ConsumerRecord) -> Received:
    """A consumer record as the ledger reads it. Bytes that are not acceptable JSON are read all
    the same (the ledger is the record of what was sent; the topic's own consumers dead-letter
    them); only an envelope whose case id is no UUID is refused here."""
    value = record.value or b""
    headers = {
        k: (v or b"").decode("utf-8", "replace") for k, v in (record.headers or ()) if k in KEPT_HEADERS
    }
    try:
        event = load_strict(value)
    except MalformedMessage as exc:
        event, headers["unreadable"] = None, str(exc)
    envelope = event if isinstance(event, dict) and "event_id" in event and "event_type" in event else None
    dead_letter = record.topic.endswith(".dlq")
    if envelope is not None and not dead_letter:
        event_key = f"event:{envelope['event_id']}"
    else:
        # A dead letter repeats its original's bytes: it is its own fact, keyed by position.
        event_key = f"message:{record.topic}:{record.partition}:{record.offset}"
    case_id = envelope.get("case_id") if envelope else None
    return Received(
        event_key=event_key,
        case_id=uuid.UUID(case_id) if case_id else None,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=record.timestamp,
        headers=headers,
        envelope=envelope,
        value=value,
        dead_letter=dead_letter,
    )


def entry_of(message: Received) -> Message:
    """What the ledger records of a message."""
    envelope = message.envelope
    if envelope is not None:
        body: Any = envelope
        event_type, occurred_at = envelope.get("event_type"), envelope.get("occurred_at")
    else:
        body, event_type, occurred_at = {"sha256": hashlib.sha256(message.value).hexdigest()}, None, None
    return Message(
        event_key=message.event_key,
        record={
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "timestamp_ms": message.timestamp_ms,
            "headers": message.headers,
            "event": body,
        },
        case_id=message.case_id,
        event_type=event_type or ("dead_letter" if message.dead_letter else "unknown"),
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        occurred_at=occurred_at,
        happenings=counted(message),
    )


def counted(message: Received) -> tuple[Happening, ...]:
    """The happenings of a valid event of a type a figure counts, on a topic it travels on (a dead
    letter, an event on another topic, or one its contract refuses counts for nothing: no consumer
    acted on it)."""
    envelope = message.envelope
    if envelope is None or not counted_on(message.topic, envelope.get("event_type")):
        return ()
    try:
        return tuple(happenings_of(message.event_key, parse_event(message.value)))
    except (ValidationError, ContractError):
        return ()


def recorded(state: None, message: Received, resources: Any, now: datetime) -> Decision[None]:
    """Every message of every audited topic: one entry, no state, nothing emitted."""
    return Decision(None, (), (entry_of(message),))


def message_of(record: ConsumerRecord) -> Message:
    """The entry's content for a consumer record at once (tools and tests that append by hand)."""
    return entry_of(read(record))
