"""Intake's registry as the unit of work (shared/unit_of_work.py) loads and saves it: for a batch of
reports or survey rows, what was recorded before and every child any of its digests names (locked),
then new children, completed identities, new cases (numbered: shared/case_number.py), reopened ones,
the reports and survey rows encrypted — one statement per table; for closures and reopenings, the
cases at hand. The decisions are services/intake/decide.py's, the tables services/intake/handlers.py's."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, text, update

from services.intake import tables as t
from services.intake.decide import (
    BATCH,
    CASE_RULES,
    HOTLINE_SOURCE,
    SCREENING_SOURCE,
    CaseNumbers,
    CaseRecord,
    Intake,
    KnownChild,
    NewReport,
    NewScreening,
    OpenedCase,
    Recorded,
    Registry,
    ReopenedCase,
    ReportKey,
    ReportRejected,
    Submission,
    age_in_years,
    as_report,
    check_jurisdiction,
    match_digests,
    report,
    report_key,
    subject_of,
    submission_of,
)
from services.intake.disclosure import DisclosurePolicy
from shared.case_number import CounterKey, counter_of, numbers_in, tally
from shared.contracts.events import CaseClosed, CaseReopened
from shared.contracts.hotline import HotlineReport
from shared.contracts.screening import ScreeningRecord
from shared.contracts.vocabulary import CaseStatus, Stage
from shared.crypto import FieldCipher, LookupHasher
from shared.db.engine import Transaction
from shared.db.rows import any_of, in_rows
from shared.db.tables import outbox_table
from shared.territory.registry import TerritoryRegistry
from shared.unit_of_work import Handlers, TableOutbox
from shared.unit_of_work import Stage as UnitStage

PRODUCER = "intake"
OUTBOX = outbox_table(t.metadata)
MAX_RAW_REPORT_BYTES = 64 * 1024
# What a survey learns about the family, kept encrypted with the screening row's id.
SITUATION_FIELDS = ("father", "mother", "caregiver", "school_status", "health", "disability")

__all__ = [  # decided in services/intake/decide.py, named here too as the shell's vocabulary
    "HOTLINE_SOURCE",
    "SCREENING_SOURCE",
    "Recorded",
    "ReportRejected",
    "Submission",
    "age_in_years",
    "as_report",
    "check_jurisdiction",
    "match_digests",
    "subject_of",
]


@dataclass(frozen=True)
class IntakeResources:
    cipher: FieldCipher
    hasher: LookupHasher
    disclosure: DisclosurePolicy
    territory: TerritoryRegistry
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # when a case opens: the year of its number
    new_id: Callable[[], uuid.UUID] = uuid.uuid4  # a new child's, case's, report's or survey row's id


def parse_hotline_report(raw: bytes) -> HotlineReport:
    """Bytes off `intake.reports.raw` → a valid report, or a poison error for the DLQ."""
    if len(raw) > MAX_RAW_REPORT_BYTES:
        raise ReportRejected(f"report is {len(raw)} bytes; the limit is {MAX_RAW_REPORT_BYTES}")
    report = HotlineReport.model_validate_json(raw)
    age_in_years(report)  # a report about an adult is rejected before anything is stored
    return report


async def record_report(
    session: Transaction, report: HotlineReport, *, keys: IntakeResources, source: str, recorded_by: str
) -> Recorded:
    """One report (the HTTP API's): the batch path with a batch of one."""
    (recorded,) = await record_reports(session, [Submission(report, source, recorded_by)], keys=keys)
    return recorded


# Reports submitted over HTTP (services/intake/submissions.py): each decided as a hotline report is.
SUBMISSIONS = Handlers({Submission: report})


async def record_reports(
    session: Transaction,
    submissions: Sequence[Submission],
    *,
    keys: IntakeResources,
    traces: Sequence[dict[str, str]] | None = None,
) -> list[Recorded]:
    """Record a batch of reports in the caller's transaction, in order, through the unit of work
    of the hotline's (one statement per table): a report already recorded (same source, channel and
    id) is answered again, the others placed by services/intake/decide.py and stored with their
    `case.reported`. `traces` gives each submission's own trace (its request's); else the current one."""
    uow, states = await registry_stage(SUBMISSIONS, lambda: keys).run(session, submissions, traces=traces)
    answers = states[BATCH].answers
    numbers = {e.payload.report_id: e.payload.case_number for e in uow.envelopes}
    # A report answered as the duplicate of one the batch recorded: the number its event took.
    return [
        a if a.case_number is not None else dataclasses.replace(a, case_number=numbers[a.report_id])
        for a in answers
    ]


def registry_stage(handlers: Handlers, keys: Callable[[], IntakeResources]) -> UnitStage:
    """Reports and survey rows, raw off their topics (or submitted): one batch-wide state, whose
    rules find or open each one's case themselves."""
    return UnitStage(
        producer=PRODUCER,
        handlers=handlers,
        store=RegistryStore(keys),
        outbox=TableOutbox(OUTBOX),
        resources=keys,
        clock=lambda res: res.clock(),
        key=lambda _: BATCH,
        cause=None,
    )


@dataclass(frozen=True)
class RegistryStore:
    """The registry a batch of reports or survey rows is about, for shared/unit_of_work.py: what
    was recorded before, and the children (with their cases and counts) any of its digests names,
    each digest locked; saved with one statement a table, the new cases numbered."""

    keys: Callable[[], IntakeResources]

    async def load(self, tx: Transaction, items: Sequence[Any]) -> dict[str, Intake]:
        keys = self.keys()
        state = Intake()
        submissions = [submission_of(i) for i in items if not isinstance(i, ScreeningRecord)]
        surveyed = [i for i in items if isinstance(i, ScreeningRecord)]
        if submissions:
            state.before = await _recorded_before(tx, submissions)
            for s in submissions:
                key = report_key(s)
                if key not in state.before and key not in state.subjects:
                    state.subjects[key] = subject_of(s.report.child, s.report.jurisdiction, keys)
        if surveyed:
            state.screened = await _screened_before(tx, surveyed)
            for r in surveyed:
                if r.external_id not in state.screened and r.external_id not in state.subjects:
                    state.subjects[r.external_id] = subject_of(r.child, r.jurisdiction, keys)
        digests = await lock_digests(
            tx,
            [
                d
                for subject in state.subjects.values()
                for d in (subject.national_id_digest, subject.match_digest)
            ],
        )
        state.registry = await _load_registry(tx, digests, keys)
        return {BATCH: state}

    async def save(self, tx: Transaction, loaded, states, records: Sequence[Any]) -> CaseNumbers:
        keys = self.keys()
        numbers = await _save_registry(
            tx,
            states[BATCH].registry,
            [r for r in records if isinstance(r, OpenedCase)],
            sorted({r.id for r in records if isinstance(r, ReopenedCase)}),
            keys,
        )
        reports = [_report_row(r, keys) for r in records if isinstance(r, NewReport)]
        if reports:
            await tx.execute(insert(t.reports), reports)
        screenings = [_screening_row(r, keys) for r in records if isinstance(r, NewScreening)]
        if screenings:
            await tx.execute(insert(t.screenings), screenings)
        return CaseNumbers(numbers)


def _report_row(new: NewReport, keys: IntakeResources) -> dict[str, Any]:
    """A report's row, its reporter and narrative encrypted."""
    submission, report_id = new.submission, new.report_id
    report = submission.report
    confidential = {"reporter": report.reporter.model_dump(mode="json"), "narrative": report.narrative}
    return {
        "id": report_id,
        "case_id": new.case_id,
        "child_id": new.child_id,
        "channel": report.channel.value,
        "source": submission.source,
        "external_id": report.external_id,
        "received_at": report.received_at,
        "jurisdiction": report.jurisdiction,
        "age_years": new.age_years,
        "categories": [c.value for c in report.categories],
        "indicators": [x.value for x in report.indicators],
        "recorded_by": submission.recorded_by,
        "confidential": keys.cipher.encrypt_json(confidential, record_id=str(report_id)),
        "reporter_phone_digest": reporter_phone_digest(keys, report),
    }


def _screening_row(new: NewScreening, keys: IntakeResources) -> dict[str, Any]:
    """A survey row's row, the family's situation encrypted."""
    record = new.record
    situation = record.model_dump(mode="json", include=set(SITUATION_FIELDS))
    return {
        "id": new.id,
        "external_id": record.external_id,
        "child_id": new.child_id,
        "case_id": new.case_id,
        "report_id": new.report_id,
        "jurisdiction": record.jurisdiction,
        "surveyed_at": record.surveyed_at,
        "surveyor_ref": record.surveyor_ref,
        "categories": [c.value for c in record.categories],
        "indicators": [x.value for x in record.indicators],
        "situation": keys.cipher.encrypt_json(situation, record_id=str(new.id)),
    }


def reporter_phone_digest(keys: IntakeResources, report: HotlineReport) -> str | None:
    """What finds the report by its reporter's phone (services/intake/search.py); None when the
    reporter gave none (anonymous, or a screening row, which has no reporter's phone)."""
    phone = report.reporter.phone
    return keys.hasher.reporter_phone_digest(phone) if phone else None


async def _recorded_before(
    session: Transaction, submissions: Sequence[Submission]
) -> dict[ReportKey, Recorded]:
    """The reports of the batch that their source already sent under the same channel and id."""
    keys = {report_key(s) for s in submissions}
    r = t.reports.c
    rows = (
        await session.execute(
            select(r.id, r.case_id, r.child_id, r.source, r.channel, r.external_id, t.cases.c.case_number)
            .join(t.cases, t.cases.c.id == r.case_id)
            .where(in_rows([r.source, r.channel, r.external_id], list(keys)))
        )
    ).all()
    found = {}
    for row in rows:  # rare (a redelivery or a retried request): one count each
        earlier = await session.scalar(
            select(func.count())
            .select_from(t.reports)
            .where(
                r.child_id == row.child_id,
                r.recorded_at < select(r.recorded_at).where(r.id == row.id).scalar_subquery(),
            )
        )
        found[(row.source, row.channel, row.external_id)] = Recorded(
            row.id, row.case_id, row.child_id, earlier, duplicate=True, case_number=row.case_number
        )
    return found


async def _screened_before(session: Transaction, records: Sequence[ScreeningRecord]) -> dict[str, uuid.UUID]:
    """The survey rows of the batch kept before (the same file imported again): each one's child."""
    s = t.screenings.c
    rows = await session.execute(
        select(s.external_id, s.child_id).where(any_of(s.external_id, {r.external_id for r in records}))
    )
    return dict(rows.all())


# Locks in key order (the subquery sorts before the outer query takes each lock).
_LOCK_DIGESTS = text(
    "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtext(d) AS k "
    "FROM unnest(CAST(:digests AS text[])) AS d ORDER BY k) AS keys"
)


async def lock_digests(session: Transaction, digests: Sequence[str | None]) -> list[str]:
    """Lock the registry's digests for this transaction, in the one order every caller takes them
    (reports, surveys, links): the digests, sorted and without repeats."""
    locked = sorted({d for d in digests if d})
    if locked:
        await session.execute(_LOCK_DIGESTS, {"digests": locked})
    return locked


async def _load_registry(session: Transaction, digests: list[str], keys: IntakeResources) -> Registry:
    """The children any digest names, their cases and how many reports each has, locked in
    id order; one query per table."""
    registry = Registry()
    if not digests:
        return registry
    c = t.children.c
    children = (
        await session.execute(
            select(t.children)
            .where(or_(any_of(c.national_id_digest, digests), any_of(c.match_digest, digests)))
            .order_by(c.id)
            .with_for_update()
        )
    ).all()
    if not children:
        return registry
    ids = [row.id for row in children]
    cases = (
        await session.execute(
            select(
                t.cases.c.id, t.cases.c.child_id, t.cases.c.state, t.cases.c.closed_at, t.cases.c.case_number
            )
            .where(any_of(t.cases.c.child_id, ids))
            .order_by(t.cases.c.id)
            .with_for_update()
        )
    ).all()
    registry.case_numbers.update((row.id, row.case_number) for row in cases)
    counts = dict(
        (
            await session.execute(
                select(t.reports.c.child_id, func.count())
                .where(any_of(t.reports.c.child_id, ids))
                .group_by(t.reports.c.child_id)
            )
        ).all()
    )
    open_case = {row.child_id: row.id for row in cases if row.state == CaseStatus.open}
    last_closed = {
        row.child_id: row.id
        for row in sorted(
            (row for row in cases if row.state == CaseStatus.closed), key=lambda row: row.closed_at
        )
    }
    # Registration order decides between two children with the same name, birthday and place.
    for row in sorted(children, key=lambda row: (row.created_at, row.id)):
        registry.put(
            KnownChild(
                id=row.id,
                national_id_digest=row.national_id_digest,
                match_digest=row.match_digest,
                identity=keys.cipher.decrypt_json(row.identity, record_id=str(row.id)),
                jurisdiction=row.jurisdiction,
                open_case=open_case.get(row.id),
                closed_case=last_closed.get(row.id),
                reports=counts.get(row.id, 0),
                provisional=row.provisional,
            )
        )
    return registry


async def _save_registry(
    session: Transaction,
    registry: Registry,
    opened: Sequence[OpenedCase],
    reopened: Sequence[uuid.UUID],
    keys: IntakeResources,
) -> dict[uuid.UUID, str]:
    """Write what the batch decided: new children, completed identities, new cases with their
    numbers and reopened cases — one statement each; the numbers of the batch's cases."""
    new_children = [child for child in registry.children.values() if child.new]
    changed = [child for child in registry.children.values() if child.changed]
    if new_children:
        await session.execute(
            insert(t.children),
            [
                {
                    "id": child.id,
                    "national_id_digest": child.national_id_digest,
                    "match_digest": child.match_digest,
                    "identity": keys.cipher.encrypt_json(child.identity, record_id=str(child.id)),
                    "jurisdiction": child.jurisdiction,
                    "provisional": child.provisional,
                }
                for child in new_children
            ],
        )
    if changed:
        c = t.children.c
        await session.execute(
            update(t.children)
            .where(c.id == bindparam("child_id"))
            .values(
                identity=bindparam("new_identity"),
                national_id_digest=bindparam("nid"),
                match_digest=bindparam("match"),
                updated_at=func.now(),
            ),
            [
                {
                    "child_id": child.id,
                    "new_identity": keys.cipher.encrypt_json(child.identity, record_id=str(child.id)),
                    "nid": child.national_id_digest,
                    "match": child.match_digest,
                }
                for child in changed
            ],
        )
    numbers = dict(registry.case_numbers)
    if opened:
        counters = [counter_of(case.jurisdiction, case.opened_at) for case in opened]
        rows = []
        for case, number in zip(opened, await _reserve_numbers(session, counters), strict=True):
            rows.append(
                {
                    "id": case.id,
                    "child_id": case.child_id,
                    "jurisdiction": case.jurisdiction,
                    "stage": "screening",
                    "case_number": number,
                    "opened_at": case.opened_at,
                }
            )
            numbers[case.id] = number
        await session.execute(insert(t.cases), rows)
    if reopened:
        await session.execute(
            update(t.cases)
            .where(any_of(t.cases.c.id, reopened))
            .values(state=CaseStatus.open.value, stage="screening", closed_at=None)
        )
    return numbers


# One statement reserves every range a batch needs: each (county, year) counter moves on by the
# batch's count of new cases there and answers where it ends. Counters are locked in key order, after
# the batch's children (their digests and rows), so two batches never deadlock on them; each holds its
# counters until it commits, so no number is given twice (and a rolled-back batch gives none).
_RESERVE_NUMBERS = text(
    f"INSERT INTO {t.case_numbers.fullname} AS counter (county, year, last) "
    "SELECT * FROM unnest(CAST(:counties AS text[]), CAST(:years AS integer[]), CAST(:counts AS bigint[])) "
    "ORDER BY 1, 2 "
    "ON CONFLICT (county, year) DO UPDATE SET last = counter.last + EXCLUDED.last "
    "RETURNING county, year, last"
)


async def _reserve_numbers(session: Transaction, counters: Sequence[CounterKey]) -> list[str]:
    """The numbers of a batch's new cases, in order (one per counter given)."""
    needed = tally(counters)
    rows = await session.execute(
        _RESERVE_NUMBERS,
        {
            "counties": [county for county, _, _ in needed],
            "years": [year for _, year, _ in needed],
            "counts": [n for _, _, n in needed],
        },
    )
    return numbers_in(counters, {(row.county, row.year): row.last for row in rows})


# ---- closures and reopenings -------------------------------------------------------------------


class CaseStore:
    """Intake's record of the cases a batch of closures and reopenings is about, locked in id order,
    for shared/unit_of_work.py; what changed saved with one statement."""

    async def load(self, tx: Transaction, events: Sequence[Any]) -> dict[uuid.UUID, CaseRecord]:
        c = t.cases.c
        rows = await tx.execute(
            select(c.id, c.state, c.stage, c.closed_at, c.reopened_at)
            .where(any_of(c.id, {event.case_id for event in events}))
            .order_by(c.id)
            .with_for_update()
        )
        return {
            row.id: CaseRecord(row.id, row.state, row.stage, row.closed_at, row.reopened_at) for row in rows
        }

    async def save(self, tx: Transaction, loaded, cases, records) -> None:
        changed = [case for case_id, case in cases.items() if loaded.get(case_id) != case]
        if not changed:
            return
        c = t.cases.c
        await tx.execute(
            update(t.cases)
            .where(c.id == bindparam("case_id"))
            .values(
                state=bindparam("new_state"),
                stage=bindparam("new_stage"),
                closed_at=bindparam("new_closed_at"),
                reopened_at=bindparam("new_reopened_at"),
            ),
            [
                {
                    "case_id": case.id,
                    "new_state": case.state,
                    "new_stage": case.stage,
                    "new_closed_at": case.closed_at,
                    "new_reopened_at": case.reopened_at,
                }
                for case in changed
            ],
        )


async def close_case(session: Transaction, case_id: uuid.UUID, closed_at: datetime) -> None:
    """Casework closed the case (services/intake/decide.py `closed`), through the closures' unit of work."""
    await _follow(session, CaseClosed.model_construct(case_id=case_id, closed_at=closed_at))


async def reopen_case(session: Transaction, case_id: uuid.UUID, *, stage: str, reopened_at: datetime) -> None:
    """A person reopened the case in casework (services/intake/decide.py `reopened`)."""
    await _follow(
        session, CaseReopened.model_construct(case_id=case_id, stage=Stage(stage), reopened_at=reopened_at)
    )


async def _follow(session: Transaction, payload: CaseClosed | CaseReopened) -> None:
    """One closure or reopening decided and saved as a batch of the closures' consumer would."""
    store = CaseStore()
    event = SimpleNamespace(case_id=payload.case_id, payload=payload)
    loaded = await store.load(session, [event])
    decision = CASE_RULES[type(payload)](loaded.get(payload.case_id), event, None, None)
    if decision.state is not None:
        await store.save(session, loaded, {**loaded, payload.case_id: decision.state}, ())
