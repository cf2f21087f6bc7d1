"""The one unit of work every stage's batch of events runs through, and the handler table that says
which pure `decide` function answers which event.

A consumer hands over a batch in offset order, inside one transaction (shared.messaging.consumer
claims the events first). The unit of work loads the state of the cases at hand through the
service's store, runs the table's decide function for each event in turn on the state the one before
left, inside the event's own span (its report's trace), stages the events each decision emits as
envelopes with that trace context, then saves the states and writes the outbox: one statement a
table, one transaction a batch. The consumer commits and wakes the relay after the commit.

A service supplies three things: its `Handlers` (payload type → decide function; the topics it
consumes follow from it), its `Store` (load and save), and its resources (policy, clock…). Handler
tests run the same unit of work on an `InMemoryStore` and an `InMemoryOutbox`, without a database.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Table

from shared.contracts.envelope import Envelope, new_envelope
from shared.contracts.events import EventPayload
from shared.messaging.outbox import add_events
from shared.telemetry import current_trace_headers, event_span

S = TypeVar("S")  # a service's state of one case
R = TypeVar("R")  # a service's resources (policy, clock…)


@dataclass(frozen=True)
class Decision(Generic[S]):
    """What a decide function answers: the case's state after the event (None: unchanged, or none
    yet), the events it emits, and what else its store keeps of it (rows of a history)."""

    state: S | None
    events: Sequence[EventPayload] = ()
    records: Sequence[Any] = ()


class Rule(Protocol[S, R]):
    """A pure decide function: the case's state so far (None: none yet), the event, the
    service's resources and the batch's clock reading; no I/O."""

    def __call__(self, state: S | None, event: Envelope, resources: R, now: datetime) -> Decision[S]: ...


class UnexpectedEvent(ValueError):
    """An event of a type the table has no rule for: it will never be valid here (dead-lettered)."""


def topics_of(payload_type: type[EventPayload]) -> tuple[str, ...]:
    """The topics events of this type travel on: its contract's topic, or every agency's for
    those on an agency's own topic."""
    every = getattr(payload_type, "every_topic", None)
    return tuple(every()) if every is not None else (payload_type.TOPIC,)


def payload_type_of(event: Envelope) -> type[EventPayload]:
    return type(event.payload)


@dataclass(frozen=True)
class Handlers(Generic[S, R]):
    """A consumer's handler table: each payload type it takes, and the decide function that
    answers it. The topics it consumes are derived from it."""

    rules: Mapping[type[EventPayload], Rule[S, R]]
    # Which payload type's rule answers an event, and the topics a payload type's events are read
    # on: the envelope's payload and its contract's topics, but for a consumer of messages that are
    # not all envelopes (the audit ledger records whatever its topics carry, dead letters too).
    kind_of: Callable[[Any], type[EventPayload] | None] = payload_type_of
    read_on: Callable[[type[EventPayload]], tuple[str, ...]] = topics_of

    @property
    def topics(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for payload_type in self.rules:
            seen.update(dict.fromkeys(self.read_on(payload_type)))
        return tuple(seen)

    def decide(self, state: S | None, event: Envelope, resources: R, now: datetime) -> Decision[S]:
        rule = self.rules.get(self.kind_of(event))
        if rule is None:
            raise UnexpectedEvent(f"no rule for {_named(event)} events")
        return rule(state, event, resources, now)


def _named(event: Any) -> str:
    payload = getattr(event, "payload", None)
    return getattr(payload, "EVENT_TYPE", None) or type(event).__name__


_NO_SPAN = nullcontext()  # reusable: entered once an event, it does nothing

Item = tuple[Envelope, Any]  # an event and its delivery (topic, partition, offset, headers)


class Store(Protocol[S]):
    """Where a service keeps the state of its cases."""

    async def load(self, tx: Any, events: Sequence[Envelope]) -> dict[uuid.UUID, S]:
        """The state of the cases the events are about, locked in case order."""
        ...

    async def save(
        self, tx: Any, loaded: Mapping[uuid.UUID, S], states: Mapping[uuid.UUID, S], records: Sequence[Any]
    ) -> None:
        """What changed since `loaded`, and the decisions' records, one statement a table."""
        ...


class Outbox(Protocol):
    async def write(
        self, tx: Any, envelopes: Sequence[Envelope], traces: Sequence[dict[str, str]]
    ) -> None: ...


@dataclass(frozen=True)
class TableOutbox:
    """The service's outbox table, published by its relay once the transaction commits."""

    table: Table

    async def write(self, tx: Any, envelopes: Sequence[Envelope], traces: Sequence[dict[str, str]]) -> None:
        await add_events(tx, self.table, *envelopes, traces=traces)


@dataclass(frozen=True)
class NoOutbox:
    """For a stage whose rules emit nothing (the ledger, a territory follower): one that did is a bug."""

    async def write(self, tx: Any, envelopes: Sequence[Envelope], traces: Sequence[dict[str, str]]) -> None:
        raise TypeError(f"this stage publishes nothing, yet its rules emitted {len(envelopes)} events")


@dataclass
class UnitOfWork:
    """One transaction's staged events: each payload wrapped in its envelope (continuing its
    cause's chain) with the trace context current where it was decided."""

    producer: str
    outbox: Outbox
    envelopes: list[Envelope] = field(default_factory=list)
    traces: list[dict[str, str]] = field(default_factory=list)

    def stage(self, payloads: Iterable[EventPayload], *, case_id: uuid.UUID, cause: Envelope | None) -> None:
        trace = current_trace_headers()
        for payload in payloads:
            self.envelopes.append(
                new_envelope(payload, case_id=case_id, producer=self.producer, causation=cause)
            )
            self.traces.append(trace)

    async def flush(self, tx: Any) -> None:
        if self.envelopes:
            await self.outbox.write(tx, self.envelopes, self.traces)


@dataclass(frozen=True)
class Stage(Generic[S, R]):
    """One consumer's work: its table, its store, where its events go and what it decides with."""

    producer: str
    handlers: Handlers[S, R]
    store: Store[S]
    outbox: Outbox
    resources: Callable[[], R]  # read at each batch: the running service's resources
    clock: Callable[[R], datetime]
    # Each event decided inside its own span (its report's trace). Off only for a stage that emits
    # nothing and that no trace needs: the audit ledger, where a span a message costs a fifth of its CPU.
    spans: bool = True

    @property
    def topics(self) -> tuple[str, ...]:
        return self.handlers.topics

    async def __call__(self, tx: Any, items: Sequence[Item]) -> UnitOfWork:
        """A batch, in offset order, in the caller's transaction."""
        resources = self.resources()
        uow = UnitOfWork(self.producer, self.outbox)
        loaded = await self.store.load(tx, [event for event, _ in items])
        states = dict(loaded)
        records: list[Any] = []
        now = self.clock(resources)
        for event, delivery in items:
            with event_span(delivery) if self.spans else _NO_SPAN:
                decision = self.handlers.decide(states.get(event.case_id), event, resources, now)
                if decision.events:
                    uow.stage(decision.events, case_id=event.case_id, cause=event)
            if decision.state is not None:
                states[event.case_id] = decision.state
            records.extend(decision.records)
        await self.store.save(tx, loaded, states, records)
        await uow.flush(tx)
        return uow


# ---- for handler tests: the same unit of work without a database ---------------------------------


@dataclass
class InMemoryStore(Generic[S]):
    """States kept in a dict; what a batch saved is read back by the next one."""

    states: dict[uuid.UUID, S] = field(default_factory=dict)
    records: list[Any] = field(default_factory=list)
    # The state of a case never seen, for services whose loader answers one for every case.
    new: Callable[[uuid.UUID], S] | None = None

    async def load(self, tx: Any, events: Sequence[Envelope]) -> dict[uuid.UUID, S]:
        loaded = {e.case_id: self.states[e.case_id] for e in events if e.case_id in self.states}
        if self.new is not None:
            loaded |= {e.case_id: self.new(e.case_id) for e in events if e.case_id not in loaded}
        return loaded

    async def save(
        self, tx: Any, loaded: Mapping[uuid.UUID, S], states: Mapping[uuid.UUID, S], records: Sequence[Any]
    ) -> None:
        self.states.update(states)
        self.records.extend(records)


@dataclass
class InMemoryOutbox:
    envelopes: list[Envelope] = field(default_factory=list)

    async def write(self, tx: Any, envelopes: Sequence[Envelope], traces: Sequence[dict[str, str]]) -> None:
        self.envelopes.extend(envelopes)

    def payloads(self) -> list[EventPayload]:
        return [envelope.payload for envelope in self.envelopes]
