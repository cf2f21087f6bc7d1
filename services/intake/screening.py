"""Recording one child's screening row: match or register the child, keep the survey encrypted,
and — when the survey found a difficulty — join or open the child's case as a report does."""

from __future__ import annotations

import uuid

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import tables as t
from services.intake.reports import (
    IntakeResources,
    ReportRejected,
    find_or_register_child,
    check_jurisdiction,
    record_report,
)
from shared.contracts.hotline import HotlineReport, Reporter
from shared.contracts.screening import ScreeningRecord
from shared.contracts.vocabulary import Channel

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
        schema_version=1, external_id=record.external_id, channel=Channel.screening,
        received_at=record.surveyed_at, reporter=Reporter(role=Channel.screening, anonymous=False),
        child=record.child, jurisdiction=record.jurisdiction, categories=record.categories,
        indicators=record.indicators, narrative="",
    )


async def record_screening(session: AsyncSession, record: ScreeningRecord, *,
                           keys: IntakeResources) -> uuid.UUID:
    """Keep one screening row, once (the same file imported again changes nothing); the
    child's id."""
    known = await session.scalar(select(t.screenings.c.child_id)
                                 .where(t.screenings.c.external_id == record.external_id))
    if known is not None:
        return known
    check_jurisdiction(record, keys.territory)
    case_id = report_id = None
    if record.categories:
        recorded = await record_report(session, as_report(record), keys=keys, source=SCREENING_SOURCE,
                                       recorded_by=f"screening:{record.surveyor_ref}")
        child_id, case_id, report_id = recorded.child_ref, recorded.case_id, recorded.report_id
    else:
        # Most surveyed children are fine: they join the registry (and the next report about
        # them finds them) without a case.
        child_id = await find_or_register_child(session, record, keys)
    screening_id = uuid.uuid4()
    situation = record.model_dump(mode="json", include=set(SITUATION_FIELDS))
    await session.execute(insert(t.screenings).values(
        id=screening_id, external_id=record.external_id, child_id=child_id, case_id=case_id,
        report_id=report_id,
        jurisdiction=record.jurisdiction, surveyed_at=record.surveyed_at, surveyor_ref=record.surveyor_ref,
        categories=[c.value for c in record.categories], indicators=[i.value for i in record.indicators],
        situation=keys.cipher.encrypt_json(situation, record_id=str(screening_id)),
    ))
    return child_id
