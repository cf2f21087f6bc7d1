"""A county's survey rows off `intake.screening.raw`: parsed here, decided by
services/intake/decide.py `screening` (match or register the child, keep the survey encrypted, and —
when the survey found a difficulty — join or open the child's case as a report does) through the
unit of work of services/intake/handlers.py's SCREENINGS table."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from services.intake.decide import BATCH, SCREENING_SOURCE, ReportRejected, as_report
from services.intake.handlers import screenings
from services.intake.reports import SITUATION_FIELDS, IntakeResources
from shared.contracts.screening import ScreeningRecord
from shared.db.engine import Transaction

MAX_RAW_RECORD_BYTES = 16 * 1024

__all__ = ["SCREENING_SOURCE", "SITUATION_FIELDS", "as_report", "parse_screening_record", "record_screenings"]


def parse_screening_record(raw: bytes) -> ScreeningRecord:
    """Bytes off `intake.screening.raw` → a valid record, or a poison error for the DLQ."""
    if len(raw) > MAX_RAW_RECORD_BYTES:
        raise ReportRejected(f"record is {len(raw)} bytes; the limit is {MAX_RAW_RECORD_BYTES}")
    return ScreeningRecord.model_validate_json(raw)  # the contract refuses a record about an adult


async def record_screenings(
    session: Transaction, records: Sequence[ScreeningRecord], *, keys: IntakeResources
) -> list[uuid.UUID]:
    """Keep a batch of screening rows, each once, in the caller's transaction, as the consumer does
    (in the current trace); each row's child id."""
    _, states = await screenings(lambda: keys).run(session, records)
    screened = states[BATCH].screened
    return [screened[record.external_id] for record in records]
