"""Case numbers on the real database (services/intake/reports.py, shared/case_number.py): batches that
open cases in several transactions at once, in two counties, never give a number twice, and each
county's numbers run on from its counter without a gap; a later report, a reopened case, a report
sent again and a survey's case carry their case's number; migration intake_0006 numbers the cases
opened before it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cpnet.registry import alembic_config
from services.intake import tables as t
from services.intake.reports import OUTBOX, Recorded, Submission, close_case, record_reports
from services.intake.screening import record_screenings
from services.intake.submissions import SubmissionBatches
from shared.case_number import CaseNumberParts, county_of, year_of
from shared.contracts.envelope import parse_event
from shared.contracts.events import CaseReported
from shared.contracts.hotline import HotlineReport
from shared.contracts.screening import ScreeningRecord
from tests.e2e.reports import hotline_report, national_id
from tests.integration.test_intake_registry import KEYS, record, sessions  # noqa: F401 (a module fixture)
from tests.integration.test_intake_submission_batches import engine, submitted  # noqa: F401 (a fixture)

# A village in each of two counties (config/territory.yaml).
VILLAGES = {"140402": "140402001001", "140403": "140403100201"}
BATCHES, PER_BATCH = 8, 24


def report(village: str, **changes) -> HotlineReport:
    return HotlineReport.model_validate_json(json.dumps(hotline_report(jurisdiction=village, **changes)))


async def counters(engine: AsyncEngine, year: int) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(t.case_numbers.c.county, t.case_numbers.c.last).where(t.case_numbers.c.year == year)
        )
    return dict.fromkeys(VILLAGES, 0) | dict(rows.all())


async def reported_numbers(engine: AsyncEngine, case_ids: list[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    """The case numbers each case's `case.reported` events carry, by case."""
    o = OUTBOX.c
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(o.payload).where(
                o.aggregate_id.in_([str(c) for c in case_ids]), o.event_type == CaseReported.EVENT_TYPE
            )
        )
    carried: dict[uuid.UUID, set[str]] = defaultdict(set)
    for (payload,) in rows:
        event = parse_event(payload).payload
        carried[event.case_id].add(event.case_number)
    return carried


async def test_batches_opening_cases_at_once_give_every_case_its_own_number_in_order(engine) -> None:
    year = year_of(datetime.now(UTC))
    before = await counters(engine, year)
    # Every batch alternates the two counties, so each transaction reserves from both counters.
    batches = [
        [
            Submission(report(VILLAGES[county]), "test", "test")
            for county in list(VILLAGES) * (PER_BATCH // len(VILLAGES))
        ]
        for _ in range(BATCHES)
    ]

    async def one_batch(batch: list[Submission]) -> list[Recorded]:
        async with engine.begin() as connection:
            return await record_reports(connection, batch, keys=KEYS)

    answers = await asyncio.gather(*(one_batch(batch) for batch in batches))
    assert year_of(datetime.now(UTC)) == year, "the year turned during the test: run it again"

    numbers = [r.case_number for batch in answers for r in batch]
    assert len(set(numbers)) == len(numbers) == BATCHES * PER_BATCH, "no number given twice"
    by_county: dict[str, list[int]] = defaultdict(list)
    for batch, recorded in zip(batches, answers, strict=True):
        in_batch: dict[str, list[int]] = defaultdict(list)
        for submission, answer in zip(batch, recorded, strict=True):
            parts = CaseNumberParts.parse(answer.case_number)  # well formed
            assert (parts.county, parts.year) == (county_of(submission.report.jurisdiction), year)
            in_batch[parts.county].append(parts.sequence)
        for county, sequences in in_batch.items():
            # A batch's cases of one county take one range, in the batch's order.
            assert sequences == list(range(sequences[0], sequences[0] + len(sequences))), (county, sequences)
            by_county[county].extend(sequences)
    after = await counters(engine, year)
    for county, sequences in by_county.items():
        # Each county's numbers run on from where its counter stood, without a gap.
        assert sorted(sequences) == list(range(before[county] + 1, after[county] + 1)), county

    case_ids = [r.case_id for batch in answers for r in batch]
    async with engine.connect() as connection:
        stored = dict(
            (
                await connection.execute(
                    select(t.cases.c.id, t.cases.c.case_number).where(t.cases.c.id.in_(case_ids))
                )
            ).all()
        )
    assert stored == {r.case_id: r.case_number for batch in answers for r in batch}
    carried = await reported_numbers(engine, case_ids)
    assert all(carried[case_id] == {number} for case_id, number in stored.items()), "on case.reported"


async def test_http_submissions_in_batches_answer_with_their_case_s_number(engine) -> None:
    batches = SubmissionBatches(engine, KEYS, after_commit=lambda: None)
    bodies = [hotline_report(jurisdiction=VILLAGES[county]) for county in list(VILLAGES) * 20]
    outcomes = await asyncio.gather(*(batches.record(submitted(body)) for body in bodies))
    numbers = [outcome.recorded.case_number for outcome in outcomes]
    assert len(set(numbers)) == len(bodies)
    counties = [county_of(body["jurisdiction"]) for body in bodies]
    assert [CaseNumberParts.parse(number).county for number in numbers] == counties


async def test_a_later_report_a_reopened_case_and_a_report_sent_again_keep_the_case_s_number(
    sessions, engine
) -> None:
    nid = national_id()
    first_report = hotline_report(child={"national_id": nid})
    first = await record(sessions, first_report)
    later = await record(sessions, hotline_report(channel="school", child={"national_id": nid}))
    async with sessions.begin() as session:
        await close_case(session, first.case_id, datetime.now(UTC))
    reopened = await record(sessions, hotline_report(child={"national_id": nid}))
    again = await record(sessions, first_report)

    assert {r.case_id for r in (first, later, reopened, again)} == {first.case_id}
    assert again.duplicate
    assert [r.case_number for r in (later, reopened, again)] == [first.case_number] * 3
    assert (await reported_numbers(engine, [first.case_id]))[first.case_id] == {first.case_number}


def screening_row(village: str, categories: list[str]) -> ScreeningRecord:
    return ScreeningRecord.model_validate_json(
        json.dumps(
            {
                "schema_version": 1,
                "external_id": f"survey-{uuid.uuid4().hex[:12]}",
                "surveyed_at": datetime.now(UTC).isoformat(),
                "surveyor_ref": "surveyor-1",
                "jurisdiction": village,
                "child": hotline_report()["child"],
                "father": "migrant_work",
                "mother": "migrant_work",
                "caregiver": "grandparents",
                "school_status": "enrolled",
                "health": "healthy",
                "disability": "none",
                "categories": categories,
                "indicators": [],
            }
        )
    )


async def test_a_survey_row_that_opens_a_case_numbers_it(sessions, engine) -> None:
    rows = [screening_row(VILLAGES["140403"], ["left_behind"]), screening_row(VILLAGES["140402"], [])]
    async with sessions.begin() as session:
        children = await record_screenings(session, rows, keys=KEYS)
    async with engine.connect() as connection:
        cases = (
            await connection.execute(
                select(t.cases.c.child_id, t.cases.c.case_number).where(t.cases.c.child_id.in_(children))
            )
        ).all()
    assert [child for child, _ in cases] == [children[0]], "a child the survey found fine opens no case"
    assert CaseNumberParts.parse(cases[0].case_number).county == "140403"


async def test_the_migration_numbers_the_cases_opened_before_it(infra) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    config = alembic_config("intake", infra.database_url)
    config.attributes["schema"] = schema
    await asyncio.to_thread(command.upgrade, config, "intake_0005")
    engine = create_async_engine(infra.database_url)
    child = uuid.uuid4()
    # (village, opened at) — the first two either side of midnight in Beijing on New Year's Eve.
    opened = [
        ("140402001001", datetime(2025, 12, 31, 15, tzinfo=UTC)),
        ("140402001002", datetime(2025, 12, 31, 16, 30, tzinfo=UTC)),
        ("140403100201", datetime(2026, 3, 1, 8, tzinfo=UTC)),
        ("140402002001", datetime(2026, 2, 1, 8, tzinfo=UTC)),
    ]
    cases = [uuid.uuid4() for _ in opened]
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    f'INSERT INTO "{schema}".children (id, identity, jurisdiction) '
                    "VALUES (:id, '\\x00', '140402001001')"
                ),
                {"id": child},
            )
            await connection.execute(
                text(
                    f'INSERT INTO "{schema}".cases (id, child_id, state, jurisdiction, opened_at) '
                    "VALUES (:id, :child, 'closed', :place, :at)"
                ),
                [
                    {"id": case_id, "child": child, "place": place, "at": at}
                    for case_id, (place, at) in zip(cases, opened, strict=True)
                ],
            )
        await asyncio.to_thread(command.upgrade, config, "intake_0006")
        async with engine.connect() as connection:
            rows = await connection.execute(text(f'SELECT id, case_number FROM "{schema}".cases'))
            numbers = dict(rows.all())
            counted = (
                await connection.execute(
                    text(f'SELECT county, year, last FROM "{schema}".case_numbers ORDER BY 1, 2')
                )
            ).all()
        assert [numbers[c] for c in cases] == [
            "140402-2025-00001",
            "140402-2026-00001",
            "140403-2026-00001",
            "140402-2026-00002",
        ]
        assert [tuple(row) for row in counted] == [
            ("140402", 2025, 1),
            ("140402", 2026, 2),
            ("140403", 2026, 1),
        ]
        await asyncio.to_thread(command.downgrade, config, "intake_0005")
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()
