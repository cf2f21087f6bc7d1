"""What each case is at any moment (audit_0010's `case_spans`, `referral_facts`, `service_spans`) is kept by
the database from the happenings alone, also when two writers add happenings of one case at once: the
second waits for the first and remakes the case with both. (That the bulletin counted from these tables
equals the rules cell for cell is tests/integration/test_counted.py.)"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.audit import tables as t
from services.audit.indicators import Happening, Kind
from services.audit.ledger import happening_row, insert_happenings

TAG = f"facts-{uuid.uuid4().hex[:8]}-"
VILLAGE = "140402100201"


def _row(kind: Kind, case_id: uuid.UUID, at: datetime, **values) -> dict:
    return happening_row(
        Happening(event_key=f"{TAG}{uuid.uuid4()}", case_id=case_id, kind=kind, at=at, **values)
    )


async def _spans(session: AsyncSession, case_id: uuid.UUID) -> list[tuple]:
    c = t.case_spans.c
    rows = await session.execute(
        select(c.since, c.until, c.place, c.open, c.opened_at, c.grade)
        .where(c.case_id == case_id)
        .order_by(c.since)
    )
    return [tuple(row) for row in rows]


async def test_two_writers_of_one_case_leave_it_made_of_both(
    audit_sessions: async_sessionmaker[AsyncSession],
) -> None:
    case_id, at = uuid.uuid4(), datetime.now(UTC) - timedelta(days=3)
    reported = _row(Kind.reported, case_id, at, jurisdiction=VILLAGE, code="hotline", age=9)
    closed = _row(Kind.closed, case_id, at + timedelta(days=1), code="risk_resolved")
    try:
        async with audit_sessions() as first, audit_sessions() as second:
            await first.begin()
            await insert_happenings(first, [reported])  # not committed yet

            async def close() -> None:
                async with second.begin():
                    await insert_happenings(second, [closed])

            closing = asyncio.create_task(close())
            await asyncio.sleep(1.0)
            assert not closing.done(), "the second writer waits for the first"
            await first.commit()
            await asyncio.wait_for(closing, 30)

        async with audit_sessions() as session:
            spans = await _spans(session, case_id)
            assert spans == [
                (at, at + timedelta(days=1), VILLAGE, True, at, None),
                (at + timedelta(days=1), None, VILLAGE, False, at, None),
            ], "reported in the village and open, then closed there: both writers' happenings"
        # What a fresh remaking from the happenings gives.
        async with audit_sessions.begin() as session:
            await session.execute(
                text("SELECT audit.refresh_case_facts(ARRAY[CAST(:c AS uuid)])"), {"c": case_id}
            )
            assert await _spans(session, case_id) == spans
    finally:
        async with audit_sessions.begin() as session:
            await session.execute(t.happenings.delete().where(t.happenings.c.event_key.startswith(TAG)))
    async with audit_sessions() as session:
        assert await _spans(session, case_id) == [], "the facts go with the happenings"


async def test_a_referral_and_a_service_are_known_by_their_moments(
    audit_sessions: async_sessionmaker[AsyncSession],
) -> None:
    case_id, referral, service = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    at = datetime.now(UTC) - timedelta(days=5)
    rows = [
        _row(Kind.reported, case_id, at, jurisdiction=VILLAGE, code="school"),
        _row(Kind.graded, case_id, at + timedelta(hours=1), code="orange"),
        _row(Kind.graded, case_id, at + timedelta(hours=2), code="red"),
        _row(
            Kind.referred,
            case_id,
            at + timedelta(hours=3),
            agency="education",
            ref=referral,
            emergency=False,
            due_at=at + timedelta(days=3),
        ),
        _row(
            Kind.referral_changed,
            case_id,
            at + timedelta(hours=4),
            code="created",
            agency="education",
            ref=referral,
        ),
        _row(
            Kind.referral_changed,
            case_id,
            at + timedelta(hours=5),
            code="declined",
            agency="education",
            ref=referral,
            reason="not_our_duty",
        ),
        _row(
            Kind.service_changed,
            case_id,
            at + timedelta(days=1),
            code="planned",
            ref=service,
            due_at=at + timedelta(days=2),
        ),
        _row(
            Kind.service_changed,
            case_id,
            at + timedelta(days=3),
            code="delivered",
            ref=service,
            due_at=at + timedelta(days=2),
        ),
    ]
    try:
        async with audit_sessions.begin() as session:
            await insert_happenings(session, rows[:5])
            await insert_happenings(session, rows[5:])  # a second statement: the case remade with all
        async with audit_sessions() as session:
            r = t.referral_facts.c
            facts = (await session.execute(select(t.referral_facts).where(r.case_id == case_id))).one()
            assert (
                facts.sent_at,
                facts.answered_at,
                facts.answer_code,
                facts.declined_at,
                facts.done_at,
            ) == (
                at + timedelta(hours=3),
                at + timedelta(hours=5),
                "declined",
                at + timedelta(hours=5),
                None,
            ), "the first answer is the first that is not 'created'"
            s = t.service_spans.c
            spans = (
                await session.execute(
                    select(s.since, s.until, s.code).where(s.case_id == case_id).order_by(s.since)
                )
            ).all()
            assert [tuple(x) for x in spans] == [
                (at + timedelta(days=1), at + timedelta(days=3), "planned"),
                (at + timedelta(days=3), None, "delivered"),
            ]
            c = t.case_spans.c
            case = (await session.execute(select(t.case_spans).where(c.case_id == case_id))).one()
            assert (case.graded_at, case.grade, case.red_at, case.delivered_at) == (
                at + timedelta(hours=1),
                "orange",
                at + timedelta(hours=2),
                at + timedelta(days=3),
            ), "the first grade and its grade; the first red grade; the first delivered service"
    finally:
        async with audit_sessions.begin() as session:
            await session.execute(t.happenings.delete().where(t.happenings.c.event_key.startswith(TAG)))


async def test_the_audit_role_adds_happenings_and_only_the_triggers_remake_facts_or_mark_changes(
    audit_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The service's role writes happenings, and with them the facts and a change mark are made (the
    triggers' functions run as their owner); it may not call the remaking itself nor write a mark."""
    case_id, at = uuid.uuid4(), datetime.now(UTC) - timedelta(days=40)
    try:
        async with audit_sessions.begin() as session:
            await session.execute(text("SET LOCAL ROLE cpnet_audit"))
            await insert_happenings(
                session, [_row(Kind.reported, case_id, at, jurisdiction=VILLAGE, code="school")]
            )
            assert [s[2:5] for s in await _spans(session, case_id)] == [(VILLAGE, True, at)]
            marked = await session.execute(
                text("SELECT reach FROM audit.change_marks WHERE xid = pg_current_xact_id()::text::bigint")
            )
            assert list(marked.scalars()) == [at], "the change reaches back to its moment"
        for refused in (
            f"SELECT audit.refresh_case_facts(ARRAY['{case_id}']::uuid[])",
            f"SELECT audit.refresh_facts(ARRAY['{case_id}']::uuid[], ARRAY[]::uuid[], ARRAY[]::uuid[])",
            "SELECT audit.happenings_changed('{}', '{}', '{}', now(), '{}')",
            "INSERT INTO audit.change_marks VALUES (1, now(), now())",
        ):
            async with audit_sessions() as session, session.begin():
                await session.execute(text("SET LOCAL ROLE cpnet_audit"))
                with pytest.raises(DBAPIError, match="permission denied"):
                    await session.execute(text(refused))
    finally:
        async with audit_sessions.begin() as session:
            await session.execute(t.happenings.delete().where(t.happenings.c.event_key.startswith(TAG)))


async def _all_facts(session: AsyncSession, case_id: uuid.UUID) -> list[list[tuple]]:
    found = []
    for table in (t.case_spans, t.referral_facts, t.service_spans):
        rows = await session.execute(select(table).where(table.c.case_id == case_id))
        found.append(sorted((tuple(row) for row in rows), key=repr))
    return found


async def test_happenings_written_one_by_one_leave_the_facts_a_whole_remaking_gives(
    audit_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """As the ledger writes them — a statement a batch, each of one kind or a few — the triggers remake
    only the kinds of fact the statement's happenings bear on; after each statement, adding or removing,
    the case's facts are what remaking all of them from all its happenings gives."""
    case_id, at = uuid.uuid4(), datetime.now(UTC) - timedelta(days=20)
    referral, service = uuid.uuid4(), uuid.uuid4()
    due = at + timedelta(days=3)
    one_by_one = [
        _row(Kind.reported, case_id, at, jurisdiction=VILLAGE, code="school", age=9, categories=("abuse",)),
        _row(Kind.graded, case_id, at + timedelta(hours=1), code="red"),
        _row(Kind.referred, case_id, at + timedelta(hours=2), agency="police", ref=referral, due_at=due),
        _row(Kind.referral_changed, case_id, at + timedelta(hours=3), code="acknowledged", ref=referral),
        _row(Kind.needs_assessed, case_id, at + timedelta(hours=20), code="red"),
        _row(Kind.planned, case_id, at + timedelta(days=1), code="red"),
        _row(Kind.service_changed, case_id, at + timedelta(days=1), code="planned", ref=service, due_at=due),
        _row(Kind.service_changed, case_id, at + timedelta(days=2), code="delivered", ref=service),
        _row(Kind.action_item, case_id, at + timedelta(days=3), code="open", agency="education", ref=service),
        _row(Kind.transferred, case_id, at + timedelta(days=4), jurisdiction="140402001001"),
        _row(Kind.closed, case_id, at + timedelta(days=5), code="risk_resolved"),
        _row(Kind.reopened, case_id, at + timedelta(days=6)),
    ]

    async def as_a_whole_remaking_gives() -> None:
        async with audit_sessions() as session, session.begin():
            kept = await _all_facts(session, case_id)
            await session.execute(
                text("SELECT audit.refresh_case_facts(ARRAY[CAST(:c AS uuid)])"), {"c": case_id}
            )
            assert kept == await _all_facts(session, case_id)
            await session.rollback()

    try:
        for row in one_by_one:
            async with audit_sessions.begin() as session:
                await insert_happenings(session, [row])
            await as_a_whole_remaking_gives()
        for row in one_by_one[1:]:
            async with audit_sessions.begin() as session:
                gone = t.happenings.delete().where(t.happenings.c.event_key == row["event_key"])
                await session.execute(gone)
            await as_a_whole_remaking_gives()
    finally:
        async with audit_sessions.begin() as session:
            await session.execute(t.happenings.delete().where(t.happenings.c.event_key.startswith(TAG)))
