"""Reports submitted over HTTP, recorded in batches: the submissions that arrive while a batch's
transaction is in flight share the next one, so a surge costs one transaction per batch, not per report."""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake import tables as t
from services.intake.reports import IntakeResources, Recorded, Submission, record_reports
from shared.contracts.hotline import HotlineReport
from shared.db.engine import Transaction
from shared.db.rows import any_of, in_rows
from shared.messaging.consumer import is_infrastructure

# A batch is one transaction: large enough that a surge shares round trips and commits, small
# enough that no answer waits long behind the others of its batch.
MAX_BATCH = 64
# Batches in flight at once: while one waits for PostgreSQL, the next is being prepared.
IN_FLIGHT = 2
# A concurrent transaction stored the same report or Idempotency-Key first: the batch looks again.
ATTEMPTS = 3


class KeyReused(Exception):
    """The Idempotency-Key was stored with a different report: nothing is recorded."""


@dataclass(frozen=True)
class Submitted:
    """One request's report, and what its answer needs."""

    report: HotlineReport
    subject: str  # the caller: reports and Idempotency-Keys are de-duplicated per caller
    idempotency_key: str | None
    digest: str  # of the request body: a key replayed must come with the same body
    trace: dict[str, str]  # the request's trace context, which its case.reported carries on
    wants_case: bool  # whether the answer may name the case (it needs the case's territory)

    @property
    def key_scope(self) -> tuple[str, str] | None:
        return (self.subject, self.idempotency_key) if self.idempotency_key else None


@dataclass(frozen=True)
class Outcome:
    """A committed submission: what was recorded, and the territory of its case when asked."""

    recorded: Recorded
    case_jurisdiction: str | None


@dataclass(frozen=True)
class _Waiting:
    submitted: Submitted
    answer: asyncio.Future = field(compare=False)


class SubmissionBatches:
    """Records each submission in the next batch and answers it once that batch has committed
    (so a 2xx still means durably stored). A batch that fails on a submission's account is
    tried again one submission at a time, so one bad report fails only its own request."""

    def __init__(
        self,
        database: AsyncEngine,
        keys: IntakeResources,
        *,
        after_commit: Callable[[], None],
        max_batch: int = MAX_BATCH,
        in_flight: int = IN_FLIGHT,
    ) -> None:
        # The engine: a batch's statements on a Core connection, without the ORM session's own
        # work per statement and per transaction (none of its features is used here).
        self._database = database
        self._keys = keys
        self._after_commit = after_commit
        self._max_batch = max_batch
        self._in_flight = in_flight
        self._waiting: list[_Waiting] = []
        self._drains: set[asyncio.Task] = set()

    async def record(self, submitted: Submitted) -> Outcome:
        """The outcome once committed; KeyReused, or the error that kept it from being stored."""
        waiting = _Waiting(submitted, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        if len(self._drains) < self._in_flight:
            # In a context of its own: a batch belongs to no single request's trace.
            drain = asyncio.create_task(self._drain(), context=contextvars.Context())
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        return await waiting.answer

    async def _drain(self) -> None:
        while batch := self._next_batch():
            await self._settle(batch)

    def _next_batch(self) -> list[_Waiting]:
        """Up to max_batch waiting submissions, in arrival order; a second one with the same
        Idempotency-Key waits for the next batch, where it finds the first one's record."""
        batch: list[_Waiting] = []
        later: list[_Waiting] = []
        scopes: set[tuple[str, str]] = set()
        for waiting in self._waiting:
            if waiting.answer.done():  # its request was cancelled (the server is stopping)
                continue
            scope = waiting.submitted.key_scope
            if len(batch) == self._max_batch or (scope is not None and scope in scopes):
                later.append(waiting)
                continue
            batch.append(waiting)
            if scope is not None:
                scopes.add(scope)
        self._waiting = later
        return batch

    async def _settle(self, batch: list[_Waiting]) -> None:
        try:
            outcomes = await self._record_batch([waiting.submitted for waiting in batch])
        except Exception as exc:  # noqa: BLE001
            if len(batch) > 1 and not is_infrastructure(exc):
                for waiting in batch:
                    await self._settle([waiting])
                return
            for waiting in batch:
                _answer(waiting, exc)
            return
        except BaseException:  # cancelled: no request may wait forever
            for waiting in batch:
                waiting.answer.cancel()
            raise
        self._after_commit()
        for waiting, outcome in zip(batch, outcomes, strict=True):
            _answer(waiting, outcome)

    async def _record_batch(self, batch: Sequence[Submitted]) -> list[Outcome | KeyReused]:
        for attempt in range(ATTEMPTS):
            try:
                async with self._database.begin() as session:
                    return await record_submissions(session, batch, keys=self._keys)
            except IntegrityError:
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")


async def record_submissions(
    session: Transaction, batch: Sequence[Submitted], *, keys: IntakeResources
) -> list[Outcome | KeyReused]:
    """Record a batch in the caller's transaction: its Idempotency-Keys looked up at once, its
    reports recorded set-based, the new keys stored, the territory of the cases asked about
    read at once."""
    stored = await _stored_digests(session, [s.key_scope for s in batch if s.key_scope])
    reused = _keys_reused(batch, stored)
    todo = [s for s, conflict in zip(batch, reused, strict=True) if not conflict]
    done = list(zip(todo, await _record_reports_of(session, todo, keys), strict=True))
    await _store_new_keys(session, done, stored)
    territory = await _territories_asked_for(session, done)
    outcomes = iter([Outcome(r, territory.get(r.case_id) if s.wants_case else None) for s, r in done])
    return [KeyReused() if conflict else next(outcomes) for conflict in reused]


def _keys_reused(batch: Sequence[Submitted], stored: dict[tuple[str, str], str]) -> list[bool]:
    """For each submission, whether its Idempotency-Key was stored with a different request body."""
    return [s.key_scope in stored and stored[s.key_scope] != s.digest for s in batch]


async def _record_reports_of(
    session: Transaction, todo: Sequence[Submitted], keys: IntakeResources
) -> list[Recorded]:
    """The submissions' reports recorded together; no statement at all when there are none."""
    if not todo:
        return []
    return await record_reports(
        session,
        [Submission(s.report, s.subject, s.subject) for s in todo],
        keys=keys,
        traces=[s.trace for s in todo],
    )


async def _store_new_keys(
    session: Transaction, done: Sequence[tuple[Submitted, Recorded]], stored: dict[tuple[str, str], str]
) -> None:
    """Store the Idempotency-Keys not stored before, each with what its report recorded."""
    new_keys = [
        {
            "subject": s.subject,
            "key": s.idempotency_key,
            "request_digest": s.digest,
            "report_id": r.report_id,
            "case_id": r.case_id,
            "child_ref": r.child_ref,
        }
        for s, r in done
        if s.key_scope and s.key_scope not in stored
    ]
    if new_keys:
        await session.execute(insert(t.idempotency_keys), new_keys)


async def _territories_asked_for(
    session: Transaction, done: Sequence[tuple[Submitted, Recorded]]
) -> dict[uuid.UUID, str]:
    """The territory of each case a submission's answer may name."""
    # A case the batch opened lies where its report does; only the others are read.
    opened = {r.case_id: r.opened_in for s, r in done if s.wants_case and r.opened_in}
    return opened | await _case_jurisdictions(
        session, {r.case_id for s, r in done if s.wants_case and r.case_id not in opened}
    )


async def _stored_digests(session: Transaction, scopes: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    if not scopes:
        return {}
    k = t.idempotency_keys.c
    rows = await session.execute(
        select(k.subject, k.key, k.request_digest).where(in_rows([k.subject, k.key], scopes))
    )
    return {(row.subject, row.key): row.request_digest for row in rows}


async def _case_jurisdictions(session: Transaction, case_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not case_ids:
        return {}
    c = t.cases.c
    rows = await session.execute(select(c.id, c.jurisdiction).where(any_of(c.id, case_ids)))
    return {row.id: row.jurisdiction for row in rows}


def _answer(waiting: _Waiting, outcome: Outcome | BaseException) -> None:
    if waiting.answer.done():
        return
    if isinstance(outcome, BaseException):
        waiting.answer.set_exception(outcome)
    else:
        waiting.answer.set_result(outcome)
