"""Recording one child's screening row: match or register the child, keep the survey encrypted,
and — when the survey found a difficulty — join or open the child's case as a report does."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import tables as t
from services.intake.reports import (
    IntakeResources,
    ReportRejected,
    Submission,
    check_jurisdiction,
    place_subjects,
    store_reports,
    subject_of,
)
from shared.contracts.hotline import HotlineReport, Reporter
from shared.contracts.screening import ScreeningRecord
from shared.contracts.vocabulary import Channel
from shared.db.rows import any_of

SCREENING_SOURCE = "screening"
MAX_RAW_RECORD_BYTES = 16 * 1024
# What a survey learns about the family, kept encrypted with the screening row's id.
SITUATION_FIELDS = ("father", "mother", "caregiver", "school_status", "health", "disability")


def parse_screening_record(raw: bytes) -> ScreeningRecord:
    """Bytes off `intake.screening.raw` → a valid record, or a poison error for the DLQ."""
    if len(raw) > MAX_RAW_RECORD_BYTES:
        raise ReportRejected(f"record is {len(raw)} bytes; the limit is {MAX_RAW_RECORD_BYTES}")
    return ScreeningRecord.model_validate_json(raw)  # the contract refuses a record about an adult


def as_report(record: ScreeningRecord) -> HotlineReport:
    """The report a screening row with a difficulty amounts to: the surveyor reporting on the
    survey's date, on the screening channel, with no narrative."""
    return HotlineReport(
        schema_version=1,
        external_id=record.external_id,
        channel=Channel.screening,
        received_at=record.surveyed_at,
        reporter=Reporter(role=Channel.screening, anonymous=False),
        child=record.child,
        jurisdiction=record.jurisdiction,
        categories=record.categories,
        indicators=record.indicators,
        narrative="",
    )


async def record_screenings(
    session: AsyncSession,
    records: Sequence[ScreeningRecord],
    *,
    keys: IntakeResources,
    traces: Sequence[dict[str, str]] | None = None,
) -> list[uuid.UUID]:
    """Keep a batch of screening rows, each once (the same file imported again changes
    nothing); each row's child id. A row with a difficulty is recorded as a report (and
    joins or opens the child's case); most surveyed children are fine, and only join the
    registry, so that the next report about them finds them. Every child of the batch is
    placed in one pass (services/intake/decide.py), in row order."""
    known = dict(
        (
            await session.execute(
                select(t.screenings.c.external_id, t.screenings.c.child_id).where(
                    any_of(t.screenings.c.external_id, {r.external_id for r in records})
                )
            )
        ).all()
    )
    first_of: dict[str, int] = {}
    for i, record in enumerate(records):
        if record.external_id not in known:
            first_of.setdefault(record.external_id, i)
    todo = sorted(first_of.values())
    for i in todo:
        check_jurisdiction(records[i], keys.territory)
    placed = await place_subjects(
        session,
        [subject_of(records[i].child, records[i].jurisdiction, keys) for i in todo],
        keys=keys,
        opens_case=[bool(records[i].categories) for i in todo],
    )
    with_difficulty = [(i, p) for i, p in zip(todo, placed, strict=True) if p.case_id is not None]
    reported = await store_reports(
        session,
        [
            Submission(as_report(records[i]), SCREENING_SOURCE, f"screening:{records[i].surveyor_ref}")
            for i, _ in with_difficulty
        ],
        [p for _, p in with_difficulty],
        keys=keys,
        traces=[traces[i] for i, _ in with_difficulty] if traces is not None else None,
    )
    report_of = {i: r.report_id for (i, _), r in zip(with_difficulty, reported, strict=True)}
    rows = []
    for i, where in zip(todo, placed, strict=True):
        record, screening_id = records[i], uuid.uuid4()
        situation = record.model_dump(mode="json", include=set(SITUATION_FIELDS))
        rows.append(
            {
                "id": screening_id,
                "external_id": record.external_id,
                "child_id": where.child_id,
                "case_id": where.case_id,
                "report_id": report_of.get(i),
                "jurisdiction": record.jurisdiction,
                "surveyed_at": record.surveyed_at,
                "surveyor_ref": record.surveyor_ref,
                "categories": [c.value for c in record.categories],
                "indicators": [x.value for x in record.indicators],
                "situation": keys.cipher.encrypt_json(situation, record_id=str(screening_id)),
            }
        )
        known[record.external_id] = where.child_id
    if rows:
        await session.execute(insert(t.screenings), rows)
    return [known[record.external_id] for record in records]
