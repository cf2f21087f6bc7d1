"""Recording reports, a batch at a time: find or register each child, join its open case or open
one (numbered: shared/case_number.py), store the report encrypted, and stage `case.reported` — all in
the caller's one transaction, with one statement per table (the decisions are services/intake/decide.py's)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import bindparam, func, insert, or_, select, text, update
from sqlalchemy import case as sql_case

from services.intake import tables as t
from services.intake.decide import KnownChild, Placed, Registry, Subject, numbered, place
from services.intake.disclosure import DisclosurePolicy
from shared.case_number import CounterKey, counter_of, numbers_in, tally
from shared.contracts.envelope import new_envelope
from shared.contracts.events import CaseReported
from shared.contracts.hotline import Child, HotlineReport
from shared.contracts.vocabulary import CaseStatus
from shared.crypto import FieldCipher, LookupHasher
from shared.db.engine import Transaction
from shared.db.rows import any_of, in_rows
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
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # when a case opens: the year of its number


@dataclass(frozen=True)
class Recorded:
    report_id: uuid.UUID
    case_id: uuid.UUID
    child_ref: uuid.UUID
    earlier_reports: int
    duplicate: bool
    opened_in: str | None = None  # the territory of the case, when this report opened it
    case_number: str | None = None


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


@dataclass(frozen=True)
class Submission:
    """One report to record: who sent it (reports are de-duplicated per source) and who
    recorded it."""

    report: HotlineReport
    source: str
    recorded_by: str


async def record_report(
    session: Transaction, report: HotlineReport, *, keys: IntakeResources, source: str, recorded_by: str
) -> Recorded:
    """One report (the HTTP API's): the batch path with a batch of one."""
    (recorded,) = await record_reports(session, [Submission(report, source, recorded_by)], keys=keys)
    return recorded


async def record_reports(
    session: Transaction,
    submissions: Sequence[Submission],
    *,
    keys: IntakeResources,
    traces: Sequence[dict[str, str]] | None = None,
) -> list[Recorded]:
    """Record a batch of reports in the caller's transaction, in order, with one statement
    per table: a report already recorded (same source, channel and id) is answered again,
    the others placed by services/intake/decide.py and stored with their `case.reported`.
    `traces` gives each submission's own trace (a consumer's batch); else the current one."""
    for submission in submissions:
        check_jurisdiction(submission.report, keys.territory)
        age_in_years(submission.report)
    already = await _recorded_before(session, submissions)
    # The same report twice in one batch is recorded once.
    first_of: dict[tuple, int] = {}
    for i, submission in enumerate(submissions):
        if _key(submission) not in already:
            first_of.setdefault(_key(submission), i)
    todo = sorted(first_of.values())
    placed = await place_subjects(
        session,
        [subject_of(submissions[i].report.child, submissions[i].report.jurisdiction, keys) for i in todo],
        keys=keys,
        opens_case=True,
    )
    stored = await store_reports(
        session,
        [submissions[i] for i in todo],
        placed,
        keys=keys,
        traces=[traces[i] for i in todo] if traces is not None else None,
    )
    recorded = {_key(submissions[i]): r for i, r in zip(todo, stored, strict=True)}
    answers = []
    for i, submission in enumerate(submissions):
        key = _key(submission)
        if key in already:
            answers.append(already[key])
        else:
            answers.append(
                recorded[key] if first_of[key] == i else dataclasses.replace(recorded[key], duplicate=True)
            )
    return answers


async def store_reports(
    session: Transaction,
    submissions: Sequence[Submission],
    placed: Sequence[Placed],
    *,
    keys: IntakeResources,
    traces: Sequence[dict[str, str]] | None = None,
) -> list[Recorded]:
    """Store placed reports, encrypted, and stage their `case.reported`: two statements."""
    rows, events, recorded = [], [], []
    for submission, where in zip(submissions, placed, strict=True):
        report, report_id, age = submission.report, uuid.uuid4(), age_in_years(submission.report)
        confidential = {"reporter": report.reporter.model_dump(mode="json"), "narrative": report.narrative}
        rows.append(
            {
                "id": report_id,
                "case_id": where.case_id,
                "child_id": where.child_id,
                "channel": report.channel.value,
                "source": submission.source,
                "external_id": report.external_id,
                "received_at": report.received_at,
                "jurisdiction": report.jurisdiction,
                "age_years": age,
                "categories": [c.value for c in report.categories],
                "indicators": [x.value for x in report.indicators],
                "recorded_by": submission.recorded_by,
                "confidential": keys.cipher.encrypt_json(confidential, record_id=str(report_id)),
                "reporter_phone_digest": reporter_phone_digest(keys, report),
            }
        )
        payload = CaseReported(
            case_id=where.case_id,
            report_id=report_id,
            child_ref=where.child_id,
            external_id=report.external_id,
            channel=report.channel,
            jurisdiction=report.jurisdiction,
            age_years=age,
            categories=list(dict.fromkeys(report.categories)),
            indicators=list(dict.fromkeys(report.indicators)),
            earlier_reports=where.earlier_reports,
            reported_at=report.received_at,
            case_number=where.case_number,
        )
        events.append(new_envelope(payload, case_id=where.case_id, producer=PRODUCER))
        recorded.append(
            Recorded(
                report_id,
                where.case_id,
                where.child_id,
                where.earlier_reports,
                duplicate=False,
                opened_in=report.jurisdiction if where.case == "opened" else None,
                case_number=where.case_number,
            )
        )
    if rows:
        await session.execute(insert(t.reports), rows)
        await add_events(session, OUTBOX, *events, traces=traces)
    return recorded


def reporter_phone_digest(keys: IntakeResources, report: HotlineReport) -> str | None:
    """What finds the report by its reporter's phone (services/intake/search.py); None when the
    reporter gave none (anonymous, or a screening row, which has no reporter's phone)."""
    phone = report.reporter.phone
    return keys.hasher.reporter_phone_digest(phone) if phone else None


def _key(submission: Submission) -> tuple[str, str, str | None]:
    return submission.source, submission.report.channel.value, submission.report.external_id


async def _recorded_before(session: Transaction, submissions: Sequence[Submission]) -> dict[tuple, Recorded]:
    """The reports of the batch that their source already sent under the same channel and id."""
    keys = {_key(s) for s in submissions}
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


def match_digests(
    keys: IntakeResources,
    *,
    national_id: str | None,
    name: str | None,
    birth_date: date | None,
    jurisdiction: str,
) -> tuple[str | None, str | None]:
    """What the registry matches a child by: keyed digests of its national id and of its normalised
    name + birth date + territory (None where the child is not named that way)."""
    return (
        keys.hasher.national_id_digest(national_id) if national_id else None,
        keys.hasher.identity_digest(name, birth_date, jurisdiction) if name and birth_date else None,
    )


def subject_of(child: Child, jurisdiction: str, keys: IntakeResources) -> Subject:
    """A child as the registry matches it."""
    nid, match = match_digests(
        keys,
        national_id=child.national_id,
        name=child.name,
        birth_date=child.birth_date,
        jurisdiction=jurisdiction,
    )
    return Subject(
        identity=child.model_dump(mode="json"),
        national_id_digest=nid,
        match_digest=match,
        jurisdiction=jurisdiction,
        provisional=child.provisional,
    )


async def place_subjects(
    session: Transaction,
    subjects: Sequence[Subject],
    *,
    keys: IntakeResources,
    opens_case: bool | Sequence[bool],
) -> list[Placed]:
    """Match or register each subject's child and (where `opens_case`) join, reopen or open
    its case: the registry state loaded once, each subject decided in order, saved at once.

    Every digest of the batch is locked first (transaction-scoped advisory locks, in one
    order for every caller), so concurrent batches about the same new child cannot register
    it twice, and cannot deadlock."""
    if not subjects:
        return []
    opens = [opens_case] * len(subjects) if isinstance(opens_case, bool) else list(opens_case)
    digests = await lock_digests(
        session, [d for subject in subjects for d in (subject.national_id_digest, subject.match_digest)]
    )
    registry = await _load_registry(session, digests, keys)
    placed = [
        place(registry, subject, opens_case=opens_case)
        for subject, opens_case in zip(subjects, opens, strict=True)
    ]
    return await _save_registry(session, registry, placed, subjects, keys)


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
    placed: Sequence[Placed],
    subjects: Sequence[Subject],
    keys: IntakeResources,
) -> list[Placed]:
    """Write what the batch decided: new children, completed identities, new cases with their
    numbers and reopened cases — one statement each; the placements with their cases' numbers."""
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
    opened = [
        {"id": p.case_id, "child_id": p.child_id, "jurisdiction": s.jurisdiction, "stage": "screening"}
        for p, s in zip(placed, subjects, strict=True)
        if p.case == "opened"
    ]
    reopened = sorted({p.case_id for p in placed if p.case == "reopened"})
    numbers = dict(registry.case_numbers)
    if opened:
        opened_at = keys.clock()
        counters = [counter_of(case["jurisdiction"], opened_at) for case in opened]
        for case, number in zip(opened, await _reserve_numbers(session, counters), strict=True):
            case.update(case_number=number, opened_at=opened_at)
            numbers[case["id"]] = number
        await session.execute(insert(t.cases), opened)
    if reopened:
        await session.execute(
            update(t.cases)
            .where(any_of(t.cases.c.id, reopened))
            .values(state=CaseStatus.open.value, stage="screening", closed_at=None)
        )
    return numbered(placed, numbers)


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


async def close_case(session: Transaction, case_id: uuid.UUID, closed_at) -> None:
    """Casework closed the case: the next report about the child reopens it. A closure an undone link
    or a person's reopening has since reversed (the case reopened after it) closes nothing; a closed case
    keeps its latest closure's moment, so a person's reopening read after a later closure reopens nothing
    (`reopen_case`)."""
    c = t.cases.c
    await session.execute(
        update(t.cases)
        .where(
            c.id == case_id,
            or_(c.state == CaseStatus.open, c.closed_at < closed_at),
            or_(c.reopened_at.is_(None), c.reopened_at < closed_at),
        )
        .values(
            state=CaseStatus.closed.value, stage="closed", closed_at=func.greatest(c.closed_at, closed_at)
        )
    )


async def reopen_case(session: Transaction, case_id: uuid.UUID, *, stage: str, reopened_at: datetime) -> None:
    """A person reopened the case in casework: intake's record follows, open again at `stage`. It is
    always the child's only case (a report joins or reopens the child's case, a merged child is never
    matched again), so one open case per child holds; casework refuses a case a link merged away. Read in
    either order with closures: one before the reopening closes nothing (`reopened_at`), one after it stays
    — both moments casework's own."""
    c = t.cases.c
    await session.execute(
        update(t.cases)
        .where(
            c.id == case_id,
            or_(c.state == CaseStatus.open, c.closed_at.is_(None), c.closed_at <= reopened_at),
        )
        .values(
            state=CaseStatus.open.value,
            stage=sql_case((c.state == CaseStatus.closed, stage), else_=c.stage),
            closed_at=None,
            reopened_at=func.greatest(c.reopened_at, reopened_at),
        )
    )
