"""A route's or a sweep's unit of work (shared/unit_of_work.py `committed`, `ServiceContext.unit_of_work`,
shared/scheduling.py `periodic_work`),
without a database: what it staged is written to the outbox inside the transaction, before it commits;
the relay is woken after the commit, and only when something was staged; whatever the body raises rolls
it all back and wakes nothing. Its envelopes have no cause and carry the trace current where the event
was decided."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from shared.contracts.events import FollowupDue
from shared.db.tables import messaging_metadata
from shared.scheduling import periodic_work
from shared.service import ServiceContext
from shared.unit_of_work import InMemoryOutbox, UnitOfWork, committed

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def due(case_id: uuid.UUID) -> FollowupDue:
    return FollowupDue(case_id=case_id, plan_id=uuid.uuid4(), visit_due_at=NOW, jurisdiction="140402001001")


@dataclass
class Journal:
    """What happened, in order: the transaction's begin, writes, commit or rollback, and wakes."""

    steps: list[str] = field(default_factory=list)


class FakeTransaction:
    def __init__(self, journal: Journal, name: str) -> None:
        self.journal, self.name = journal, name

    async def __aenter__(self) -> FakeTransaction:
        self.journal.steps.append(f"begin {self.name}")
        return self

    async def __aexit__(self, kind, exc, tb) -> None:
        self.journal.steps.append("rollback" if kind else "commit")

    async def execute(self, statement, rows=None) -> None:
        self.journal.steps.append(f"{statement.table.name} {len(rows or ())}")


@dataclass
class JournalledOutbox(InMemoryOutbox):
    journal: Journal = field(default_factory=Journal)
    written_on: list[Any] = field(default_factory=list)

    async def write(self, tx, envelopes, traces) -> None:
        self.journal.steps.append(f"outbox {len(envelopes)}")
        self.written_on.append(tx)
        self.traces = list(traces)
        await super().write(tx, envelopes, traces)


def _parts() -> tuple[Journal, JournalledOutbox, Any, Any]:
    journal = Journal()
    outbox = JournalledOutbox(journal=journal)
    return journal, outbox, (lambda: FakeTransaction(journal, "tx")), (lambda: journal.steps.append("wake"))


async def test_what_a_route_staged_is_written_in_its_transaction_and_the_relay_woken_after_the_commit() -> (
    None
):
    journal, outbox, begin, wake = _parts()
    case_id = uuid.uuid4()
    async with committed(begin, UnitOfWork("followup", outbox), wake) as work:
        journal.steps.append("rows")
        work.uow.stage([due(case_id), due(case_id)], case_id=case_id, cause=None)
    assert journal.steps == ["begin tx", "rows", "outbox 2", "commit", "wake"]
    assert outbox.written_on == [work.tx]
    assert all(e.case_id == case_id and e.producer == "followup" for e in outbox.envelopes)
    assert all(e.causation_id is None for e in outbox.envelopes), "a person's action has no cause"


async def test_a_route_that_stages_nothing_commits_and_wakes_nothing() -> None:
    journal, outbox, begin, wake = _parts()
    async with committed(begin, UnitOfWork("followup", outbox), wake):
        journal.steps.append("rows")
    assert journal.steps == ["begin tx", "rows", "commit"]


async def test_a_refused_action_rolls_back_writes_no_event_and_wakes_nothing() -> None:
    journal, outbox, begin, wake = _parts()
    case_id = uuid.uuid4()
    with pytest.raises(LookupError):
        async with committed(begin, UnitOfWork("followup", outbox), wake) as work:
            work.uow.stage([due(case_id)], case_id=case_id, cause=None)
            raise LookupError("no such case in your territory")
    assert journal.steps == ["begin tx", "rollback"]
    assert outbox.envelopes == []


async def test_an_event_carries_the_trace_of_the_span_it_was_decided_in() -> None:
    journal, outbox, begin, wake = _parts()
    tracer = TracerProvider().get_tracer(__name__)
    case_id = uuid.uuid4()
    async with committed(begin, UnitOfWork("followup", outbox), wake) as work:
        with tracer.start_as_current_span("POST /v1/cases/{case_id}/visits") as span:
            work.uow.stage([due(case_id)], case_id=case_id, cause=None)
    (headers,) = outbox.traces
    assert headers["traceparent"].split("-")[1] == format(span.get_span_context().trace_id, "032x")


class FakeFactory:
    """An engine's or a session factory's `begin`, journalled by name."""

    def __init__(self, journal: Journal, name: str) -> None:
        self.journal, self.name = journal, name

    def begin(self) -> FakeTransaction:
        return FakeTransaction(self.journal, self.name)


class FakeRelay:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def wake(self) -> None:
        self.journal.steps.append("wake")


def _context(journal: Journal) -> ServiceContext:
    return ServiceContext(
        name="casework",
        settings=None,
        engine=FakeFactory(journal, "connection"),
        sessions=FakeFactory(journal, "session"),
        broker=None,
        relay=FakeRelay(journal),
        metadata=messaging_metadata("casework"),
    )


@pytest.mark.parametrize(("options", "opened"), [({}, "session"), ({"connection": True}, "connection")])
async def test_a_service_context_opens_the_transaction_its_routes_use(options, opened) -> None:
    journal = Journal()
    ctx = _context(journal)
    async with ctx.unit_of_work(**options) as work:
        assert work.uow.producer == "casework"
        assert work.uow.outbox.table is ctx.outbox
    assert journal.steps == [f"begin {opened}", "commit"], "nothing staged: nothing woken"


async def test_a_service_context_wakes_nothing_when_the_body_raises() -> None:
    journal = Journal()
    case_id = uuid.uuid4()
    with pytest.raises(ValueError):
        async with _context(journal).unit_of_work() as work:
            work.uow.stage([due(case_id)], case_id=case_id, cause=None)
            raise ValueError("a rule of the override path refused it")
    assert journal.steps == ["begin session", "rollback"]


async def test_a_sweep_run_stages_on_its_own_unit_of_work_and_wakes_the_relay_after_the_commit() -> None:
    journal = Journal()
    stop = asyncio.Event()
    case_id = uuid.uuid4()

    async def sweep(work) -> int:
        work.uow.stage([due(case_id)], case_id=case_id, cause=None)
        stop.set()
        return 1

    await periodic_work(_context(journal), "followup.due_visits", sweep, every_s=60)(stop)
    assert journal.steps == ["begin session", "outbox 1", "commit", "wake"]


async def test_a_failed_sweep_run_rolls_back_and_wakes_nothing() -> None:
    journal = Journal()
    stop = asyncio.Event()
    case_id = uuid.uuid4()

    async def sweep(work) -> int:
        work.uow.stage([due(case_id)], case_id=case_id, cause=None)
        stop.set()
        raise RuntimeError("a bug")

    await periodic_work(_context(journal), "followup.due_visits", sweep, every_s=60)(stop)
    assert journal.steps == ["begin session", "rollback"]
