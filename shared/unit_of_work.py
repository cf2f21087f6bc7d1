"""The one unit of work every stage's batch of events runs through, and the handler table that says
which pure `decide` function answers which event.

A consumer hands over a batch in offset order, inside one transaction (shared.messaging.consumer
claims the events first). The unit of work loads the state of the cases at hand through the
service's store, runs the table's decide function for each event in turn on the state the one before
left, inside the event's own span (its report's trace), stages the events each decision emits as
envelopes with that trace context, then saves the states and writes the outbox: one statement a
table, one transaction a batch. The consumer commits and wakes the relay after the commit.

Raw payloads from outside (a hotline report: no envelope) go through the same shell: the stage's
`key` says which state an item touches (a constant for a batch-wide state, when the rule finds the
item's case itself and names it in its `Decision.case_id`) and `cause=None` starts a chain. A
store's save may answer a completion of the staged payloads with what only the database knew
(numbers it reserved). `Stage.run` takes a batch that came by request (each with its request's
trace). A route or a sweep stages its events on the unit of work of its own transaction
(`committed`, which `ServiceContext.unit_of_work` opens), written before it commits.

A service supplies three things: its `Handlers` (payload type → decide function; the topics it
consumes follow from it), its `Store` (load and save), and its resources (policy, clock…). Handler
tests run the same unit of work on an `InMemoryStore` and an `InMemoryOutbox`, without a database.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Table

from shared.contracts.envelope import Envelope, new_envelope
from shared.contracts.events import EventPayload
from shared.messaging.outbox import add_events, add_urgent_events
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
    # The case the events are about, when the rule decided it (a raw report finds or opens its
    # case); None: the state's key (the event's case).
    case_id: uuid.UUID | None = None


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


def payload_type_of(event: Envelope | EventPayload) -> type[EventPayload]:
    """An envelope's payload type; a raw payload (from outside: no envelope) is its own."""
    return type(event.payload) if isinstance(event, Envelope) else type(event)


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

    def decide(self, state: S | None, event: Envelope | Any, resources: R, now: datetime) -> Decision[S]:
        """The rule of the event's kind (its payload's type; a raw payload, no envelope, is its own)."""
        rule = self.rules.get(self.kind_of(event))
        if rule is None:
            raise UnexpectedEvent(f"no rule for {_named(event)} events")
        return rule(state, event, resources, now)


def _named(event: Any) -> str:
    payload = event.payload if isinstance(event, Envelope) else event
    return getattr(payload, "EVENT_TYPE", None) or type(payload).__name__


_NO_SPAN = nullcontext()  # reusable: entered once an event, it does nothing

Item = tuple[Envelope, Any]  # an event and its delivery (topic, partition, offset, headers)


def case_of(event: Envelope) -> uuid.UUID:
    """The state an envelope's event touches: its case's."""
    return event.case_id


def itself(event: Envelope) -> Envelope:
    """What the events an envelope's decision emits continue: its own chain."""
    return event


# A payload as the save completed it (e.g. with the number the database reserved for its new
# case); the same payload when there is nothing to complete.
Completion = Callable[[EventPayload], EventPayload]


class Store(Protocol[S]):
    """Where a service keeps the state of its cases."""

    async def load(self, tx: Any, events: Sequence[Envelope]) -> dict[uuid.UUID, S]:
        """The state of the cases the events are about, locked in case order."""
        ...

    async def save(
        self, tx: Any, loaded: Mapping[uuid.UUID, S], states: Mapping[uuid.UUID, S], records: Sequence[Any]
    ) -> Completion | None:
        """What changed since `loaded`, and the decisions' records, one statement a table; what
        the save learnt that no decision could (a number only the database gives), if anything,
        as a completion of the staged payloads."""
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
class UrgentOutbox:
    """The same table, for an urgent lane: its rows (and the pending rows of their cases) are
    published by the urgent relay, ahead of the ordinary backlog (shared/messaging/outbox.py)."""

    table: Table

    async def write(self, tx: Any, envelopes: Sequence[Envelope], traces: Sequence[dict[str, str]]) -> None:
        await add_urgent_events(tx, self.table, envelopes, traces)


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

    def stage(
        self,
        payloads: Iterable[EventPayload],
        *,
        case_id: uuid.UUID,
        cause: Envelope | None,
        trace: dict[str, str] | None = None,
    ) -> None:
        """`trace`: the trace context the events carry on (a request's, kept from when it came);
        None: the current one."""
        trace = current_trace_headers() if trace is None else trace
        for payload in payloads:
            self.envelopes.append(
                new_envelope(payload, case_id=case_id, producer=self.producer, causation=cause)
            )
            self.traces.append(trace)

    def complete(self, completion: Completion) -> None:
        """Each staged envelope's payload as the save completed it (the envelope otherwise unchanged)."""
        self.envelopes = [
            envelope
            if (payload := completion(envelope.payload)) is envelope.payload
            else envelope.model_copy(update={"payload": payload})
            for envelope in self.envelopes
        ]

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
    # The state an item touches (its store's key): an envelope's case. A table of raw payloads
    # whose rule finds its case itself keys them all to one batch-wide state.
    key: Callable[[Any], Any] = case_of
    # What the events an item's decision emits continue: an envelope's chain; None for raw payloads
    # from outside (their events start a chain).
    cause: Callable[[Any], Envelope | None] | None = itself
    # Each event decided inside its own span (its report's trace). Off only for a stage that emits
    # nothing and that no trace needs: the audit ledger, where a span a message costs a fifth of its CPU.
    spans: bool = True

    @classmethod
    def of_service(
        cls,
        producer: str,
        outbox: Table,
        handlers: Handlers[S, R],
        store: Store[S],
        resources: Callable[[], R],
        **options: Any,
    ) -> Stage[S, R]:
        """A service's stage: its events written to its outbox table, decided at the clock of its
        resources (`resources().clock()`, which tests set)."""
        return cls(
            producer=producer,
            handlers=handlers,
            store=store,
            outbox=TableOutbox(outbox),
            resources=resources,
            clock=_clock_of,
            **options,
        )

    @property
    def topics(self) -> tuple[str, ...]:
        return self.handlers.topics

    async def __call__(self, tx: Any, items: Sequence[Item]) -> UnitOfWork:
        """A batch, in offset order, in the caller's transaction."""
        uow, _ = await self._run(tx, items, traces=None)
        return uow

    async def run(
        self, tx: Any, events: Sequence[Any], *, traces: Sequence[dict[str, str]] | None = None
    ) -> tuple[UnitOfWork, dict[Any, S]]:
        """A batch that came by request rather than off a topic (an HTTP batch), in the caller's
        transaction and the current context: the events each decision emits carry its request's
        trace (`traces`, one an event; None: the current one). The unit of work, and the states
        as saved (what a request's answer is read from)."""
        return await self._run(tx, [(event, None) for event in events], traces=traces)

    async def _run(
        self, tx: Any, items: Sequence[Item], *, traces: Sequence[dict[str, str]] | None
    ) -> tuple[UnitOfWork, dict[Any, S]]:
        resources = self.resources()
        uow = UnitOfWork(self.producer, self.outbox)
        loaded = await self.store.load(tx, [event for event, _ in items])
        states = dict(loaded)
        records: list[Any] = []
        now = self.clock(resources)
        for i, (event, delivery) in enumerate(items):
            key = self.key(event)
            with event_span(delivery) if self.spans and delivery is not None else _NO_SPAN:
                decision = self.handlers.decide(states.get(key), event, resources, now)
                if decision.events:
                    uow.stage(
                        decision.events,
                        case_id=key if decision.case_id is None else decision.case_id,
                        cause=None if self.cause is None else self.cause(event),
                        trace=None if traces is None else traces[i],
                    )
            if decision.state is not None:
                states[key] = decision.state
            records.extend(decision.records)
        completion = await self.store.save(tx, loaded, states, records)
        if completion is not None:
            uow.complete(completion)
        await uow.flush(tx)
        return uow, states


def _clock_of(resources: Any) -> datetime:
    return resources.clock()


# ---- for handler tests: the same unit of work without a database ---------------------------------


@dataclass
class InMemoryStore(Generic[S]):
    """States kept in a dict; what a batch saved is read back by the next one."""

    states: dict[uuid.UUID, S] = field(default_factory=dict)
    records: list[Any] = field(default_factory=list)
    # The state of a case never seen, for services whose loader answers one for every case.
    new: Callable[[uuid.UUID], S] | None = None
    # The state an event touches: its stage's `key`.
    key: Callable[[Any], Any] = case_of
    # What the save would complete the staged payloads with (a database's numbers), if anything.
    completion: Completion | None = None

    async def load(self, tx: Any, events: Sequence[Envelope]) -> dict[uuid.UUID, S]:
        keys = [self.key(e) for e in events]
        loaded = {k: self.states[k] for k in keys if k in self.states}
        if self.new is not None:
            loaded |= {k: self.new(k) for k in keys if k not in loaded}
        return loaded

    async def save(
        self, tx: Any, loaded: Mapping[uuid.UUID, S], states: Mapping[uuid.UUID, S], records: Sequence[Any]
    ) -> Completion | None:
        self.states.update(states)
        self.records.extend(records)
        return self.completion


@dataclass
class InMemoryOutbox:
    envelopes: list[Envelope] = field(default_factory=list)

    async def write(self, tx: Any, envelopes: Sequence[Envelope], traces: Sequence[dict[str, str]]) -> None:
        self.envelopes.extend(envelopes)

    def payloads(self) -> list[EventPayload]:
        return [envelope.payload for envelope in self.envelopes]


# ---- a route's or a sweep's transaction ----------------------------------------------------------


@dataclass(frozen=True)
class Work:
    """One transaction of a route or a sweep, and the unit of work its events are staged on: the
    shell writes its rows on `tx` and stages the events it decided with `uow.stage` (no cause: a
    person's action or a clock's, in the span current where it is decided)."""

    tx: Any
    uow: UnitOfWork


@asynccontextmanager
async def committed(
    begin: Callable[[], AbstractAsyncContextManager[Any]],
    uow: UnitOfWork,
    after_commit: Callable[[], None] | None = None,
) -> AsyncIterator[Work]:
    """Open a transaction with `begin` (an engine's or a session factory's), hand it over with `uow`,
    write the staged events to the outbox before it commits, and call `after_commit` (the relay's
    wake) once it has, if any event was staged. Whatever the body raises rolls it all back, and
    nothing is woken."""
    async with begin() as tx:
        yield Work(tx, uow)
        await uow.flush(tx)
    if uow.envelopes and after_commit is not None:
        after_commit()
