"""Recording a report: find or register the child, join its open case or open one, store the
report encrypted, and stage `case.reported` — all in the caller's one transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import tables as t
from services.intake.disclosure import DisclosurePolicy
from shared.contracts.envelope import new_envelope
from shared.contracts.events import CaseReported
from shared.contracts.hotline import HotlineReport
from shared.crypto import FieldCipher, LookupHasher
from shared.db.tables import outbox_table
from shared.messaging.outbox import add_events
from shared.territory.registry import TerritoryRegistry

PRODUCER = "intake"
OUTBOX = outbox_table(t.metadata)
MAX_RAW_REPORT_BYTES = 64 * 1024


class ReportRejected(ValueError):
    """The report is well-formed but cannot be accepted; the message names the field and
    the rule, never the value."""


@dataclass(frozen=True)
class IntakeResources:
    cipher: FieldCipher
    hasher: LookupHasher
    disclosure: DisclosurePolicy
    territory: TerritoryRegistry


@dataclass(frozen=True)
class Recorded:
    report_id: uuid.UUID
    case_id: uuid.UUID
    child_ref: uuid.UUID
    earlier_reports: int
    duplicate: bool


def parse_hotline_report(raw: bytes) -> HotlineReport:
    """Bytes off `intake.reports.raw` → a valid report, or a poison error for the DLQ."""
    if len(raw) > MAX_RAW_REPORT_BYTES:
        raise ReportRejected(f"report is {len(raw)} bytes; the limit is {MAX_RAW_REPORT_BYTES}")
    report = HotlineReport.model_validate_json(raw)
    age_in_years(report)  # a report about an adult is rejected before anything is stored
    return report


def check_jurisdiction(report: HotlineReport, territory: TerritoryRegistry) -> None:
    """A report must name a node of the registry: a mistyped code would open a case in no
    one's territory, never seen on any caseworker's list."""
    if report.jurisdiction not in territory:
        raise ReportRejected("jurisdiction: not a node of the territory registry")


def age_in_years(report: HotlineReport) -> int | None:
    child = report.child
    if child.birth_date is not None:
        age = _years_between(child.birth_date, report.received_at.date())
        if age < 0:
            raise ReportRejected("child.birth_date: after received_at")
        if age > 17:
            raise ReportRejected("child.birth_date: the child was 18 or older when reported")
        return age
    return child.age_estimate


def _years_between(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


async def record_report(session: AsyncSession, report: HotlineReport, *, keys: IntakeResources, source: str,
                        recorded_by: str) -> Recorded:
    check_jurisdiction(report, keys.territory)
    existing = await _existing_report(session, report, source)
    if existing is not None:
        return existing
    age = age_in_years(report)
    child_id = await find_or_register_child(session, report, keys)
    case_id = await _open_case_of(session, child_id, report.jurisdiction)
    earlier = await session.scalar(select(func.count()).select_from(t.reports).where(t.reports.c.child_id == child_id))
    report_id = uuid.uuid4()
    confidential = {
        "reporter": report.reporter.model_dump(mode="json"),
        "narrative": report.narrative,
    }
    await session.execute(insert(t.reports).values(
        id=report_id, case_id=case_id, child_id=child_id, channel=report.channel.value, source=source,
        external_id=report.external_id, received_at=report.received_at, jurisdiction=report.jurisdiction,
        age_years=age, categories=[c.value for c in report.categories],
        indicators=[i.value for i in report.indicators],
        confidential=keys.cipher.encrypt_json(confidential, record_id=str(report_id)), recorded_by=recorded_by,
    ))
    payload = CaseReported(
        case_id=case_id, report_id=report_id, child_ref=child_id, external_id=report.external_id,
        channel=report.channel, jurisdiction=report.jurisdiction, age_years=age,
        categories=list(dict.fromkeys(report.categories)), indicators=list(dict.fromkeys(report.indicators)),
        earlier_reports=earlier, reported_at=report.received_at,
    )
    await add_events(session, OUTBOX, new_envelope(payload, case_id=case_id, producer=PRODUCER))
    return Recorded(report_id, case_id, child_id, earlier, duplicate=False)


async def _existing_report(session: AsyncSession, report: HotlineReport, source: str) -> Recorded | None:
    """The report this source already sent under the same channel and id, if any."""
    row = (await session.execute(
        select(t.reports.c.id, t.reports.c.case_id, t.reports.c.child_id)
        .where(t.reports.c.source == source, t.reports.c.channel == report.channel.value,
               t.reports.c.external_id == report.external_id)
    )).first()
    if row is None:
        return None
    earlier = await session.scalar(
        select(func.count()).select_from(t.reports)
        .where(t.reports.c.child_id == row.child_id, t.reports.c.recorded_at < select(t.reports.c.recorded_at)
               .where(t.reports.c.id == row.id).scalar_subquery()))
    return Recorded(row.id, row.case_id, row.child_id, earlier, duplicate=True)


def _identity(report: HotlineReport) -> dict:
    return report.child.model_dump(mode="json")


async def find_or_register_child(session: AsyncSession, report: HotlineReport, keys: IntakeResources) -> uuid.UUID:
    """Exact national id first; else normalised name + birth date + jurisdiction; else new.

    Concurrent reports about the same new child take the same transaction-scoped advisory
    lock, so they cannot register it twice.
    """
    child = report.child
    nid_digest = keys.hasher.national_id_digest(child.national_id) if child.national_id else None
    match_digest = keys.hasher.identity_digest(child.name, child.birth_date, report.jurisdiction) \
        if child.name and child.birth_date else None
    for digest in (nid_digest, match_digest):
        if digest:
            await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:d))"), {"d": digest})

    row = None
    if nid_digest:
        row = (await session.execute(select(t.children).where(t.children.c.national_id_digest == nid_digest)
                                     .with_for_update())).first()
    if row is None and match_digest:
        candidates = (await session.execute(select(t.children).where(t.children.c.match_digest == match_digest)
                                            .with_for_update())).all()
        # A known national id that differs means another child with the same name and birthday.
        row = next((c for c in candidates if nid_digest is None or c.national_id_digest in (None, nid_digest)), None)
    if row is None:
        child_id = uuid.uuid4()
        await session.execute(insert(t.children).values(
            id=child_id, national_id_digest=nid_digest, match_digest=match_digest,
            identity=keys.cipher.encrypt_json(_identity(report), record_id=str(child_id)),
            jurisdiction=report.jurisdiction,
        ))
        return child_id

    # Known child: complete its identity with what this report adds, never overwrite.
    known = keys.cipher.decrypt_json(row.identity, record_id=str(row.id))
    merged = {**_identity(report), **{k: v for k, v in known.items() if v is not None}}
    changes = {}
    if merged != known:
        changes["identity"] = keys.cipher.encrypt_json(merged, record_id=str(row.id))
    if nid_digest and row.national_id_digest is None:
        changes["national_id_digest"] = nid_digest
    if match_digest and row.match_digest is None:
        changes["match_digest"] = match_digest
    if changes:
        await session.execute(update(t.children).where(t.children.c.id == row.id)
                              .values(**changes, updated_at=func.now()))
    return row.id


async def _open_case_of(session: AsyncSession, child_id: uuid.UUID, jurisdiction: str) -> uuid.UUID:
    """The child's open case, locked so one case's events are written one at a time; or a
    new case at the screening stage."""
    case_id = await session.scalar(
        select(t.cases.c.id).where(t.cases.c.child_id == child_id, t.cases.c.state == "open").with_for_update())
    if case_id is not None:
        return case_id
    # A new report about a child whose case was closed reopens that case: its history (and
    # every agency's record of it) stays in one place.
    closed = await session.scalar(
        select(t.cases.c.id).where(t.cases.c.child_id == child_id, t.cases.c.state == "closed")
        .order_by(t.cases.c.closed_at.desc()).limit(1).with_for_update())
    if closed is not None:
        await session.execute(update(t.cases).where(t.cases.c.id == closed).values(
            state="open", stage="screening", closed_at=None))
        return closed
    case_id = uuid.uuid4()
    await session.execute(insert(t.cases).values(id=case_id, child_id=child_id, jurisdiction=jurisdiction,
                                                 stage="screening"))
    return case_id



async def close_case(session: AsyncSession, case_id: uuid.UUID, closed_at) -> None:
    """Follow-up closed the case: the next report about the child reopens it."""
    await session.execute(update(t.cases).where(t.cases.c.id == case_id, t.cases.c.state == "open").values(
        state="closed", stage="closed", closed_at=closed_at))
