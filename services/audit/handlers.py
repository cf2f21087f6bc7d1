"""The ledger's handler table: every payload type of the contract registry's topics without personal
data, each recorded by the one rule of services/audit/decide.py, read on its topics and their dead
letters; in batches through the one unit of work (shared/unit_of_work.py), whose store chains the
entries (services/audit/ledger.py).

The ledger records whatever its topics carry — an envelope of another type, bytes that are no
envelope, a dead letter — so a message is answered by the rule of the type its envelope names if
that type travels on its topic, else by the rule of its topic's first type: every message of an
audited topic has one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from services.audit.decide import Received, recorded
from services.audit.ledger import LedgerEnd, LedgerStore
from shared.contracts.envelope import EVENT_TYPES, EventPayload
from shared.contracts.topics import TOPICS
from shared.unit_of_work import Handlers, NoOutbox, Stage

PRODUCER = "audit"


def read_on(payload_type: type[EventPayload]) -> tuple[str, ...]:
    """The audited topics a payload type's events travel on: its own, and their dead letters."""
    return tuple(
        name
        for name, topic in TOPICS.items()
        if payload_type.EVENT_TYPE in topic.event_types and not topic.personal_data
    )


def _audited() -> tuple[type[EventPayload], ...]:
    """Every payload type of a topic without personal data, in the registry's order."""
    names = {name: None for topic in TOPICS.values() if not topic.personal_data for name in topic.event_types}
    return tuple(payload_type for (name, _), payload_type in EVENT_TYPES.items() if name in names)


# Filled from the table below: a topic's payload types, by the event type they name.
_OF_TOPIC: dict[str, type[EventPayload]] = {}
_NAMED: dict[tuple[str, str], type[EventPayload]] = {}


def kind_of(message: Received) -> type[EventPayload] | None:
    """The payload type whose rule records a message (None: not an audited topic)."""
    named = message.envelope.get("event_type") if message.envelope is not None else None
    if type(named) is str:
        found = _NAMED.get((message.topic, named))
        if found is not None:
            return found
    return _OF_TOPIC.get(message.topic)


LEDGER = Handlers(dict.fromkeys(_audited(), recorded), kind_of=kind_of, read_on=read_on)

for _type in LEDGER.rules:
    for _topic in read_on(_type):
        _OF_TOPIC.setdefault(_topic, _type)
        _NAMED[(_topic, _type.EVENT_TYPE)] = _type


def stage(end: LedgerEnd) -> Stage:
    """The ledger's stage, chained to `end` (the process's memory of the ledger's end). No span a
    message: it emits nothing, and its consumer's batch span is the one trace of its work."""
    return Stage(
        producer=PRODUCER,
        handlers=LEDGER,
        store=LedgerStore(end),
        outbox=NoOutbox(),
        resources=lambda: None,
        clock=lambda _: datetime.now(UTC),
        spans=False,
    )
