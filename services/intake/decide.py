"""Intake's decisions over the registry a batch loaded, without I/O: which child a report or a
survey row is about (matched, or new — a child nobody could name is always new, a provisional child),
what it adds to the child's identity (never overwriting), which case it joins (the open one, the last
closed one reopened, or a new one), and how many reports about the child came before it; what a
report, a survey row, a closure, a reopening and a referral's news decide (the rules of
services/intake/handlers.py's tables). Ids and the clock come in (`IntakeResources.new_id`, `now`).
services/intake/reports.py, screening.py and access.py load, number new cases and save."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from shared.contracts.envelope import Envelope
from shared.contracts.events import (
    CaseClosed,
    CaseReopened,
    CaseReported,
    ConsentWithdrawn,
    ReferralCreated,
    ReferralStatusChanged,
    ReferralWithdrawn,
    ServiceChanged,
)
from shared.contracts.hotline import Child, HotlineReport, Reporter
from shared.contracts.screening import ScreeningRecord
from shared.contracts.vocabulary import CaseStatus, Channel, ReferralState
from shared.territory.registry import TerritoryRegistry
from shared.unit_of_work import Decision

if TYPE_CHECKING:
    from services.intake.reports import IntakeResources

HOTLINE_SOURCE = "hotline"
SCREENING_SOURCE = "screening"
# The one state a batch of reports or survey rows shares (its children are found across the
# batch), and so does a batch of referral news (one row a referral, whichever case).
BATCH = "batch"


class ReportRejected(ValueError):
    """The report is well-formed but cannot be accepted; the message names the field and
    the rule, never the value."""


def check_jurisdiction(report: HotlineReport | ScreeningRecord, territory: TerritoryRegistry) -> None:
    """A report must name a node of the registry: a mistyped code would open a case in no
    one's territory, never seen on any caseworker's list."""
    if report.jurisdiction not in territory:
        raise ReportRejected("jurisdiction: not a node of the territory registry")


def age_in_years(report: HotlineReport) -> int | None:
    child = report.child
    if child.birth_date is not None:
        age = years_between(child.birth_date, report.received_at.date())
        if age < 0:
            raise ReportRejected("child.birth_date: after received_at")
        if age > 17:
            raise ReportRejected("child.birth_date: the child was 18 or older when reported")
        return age
    return child.age_estimate


def years_between(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


@dataclass(frozen=True)
class Subject:
    """What a report or a survey row says about its child, as the registry matches it."""

    identity: dict[str, Any]  # the contract's Child, as JSON; stored encrypted
    national_id_digest: str | None
    match_digest: str | None  # normalised name + birth date + territory
    jurisdiction: str
    provisional: bool = False  # nobody could name the child: it has no digests and is never matched


@dataclass(frozen=True)
class KnownChild:
    """A child of the registry, as this batch found (or made) it."""

    id: uuid.UUID
    national_id_digest: str | None
    match_digest: str | None
    identity: dict[str, Any]
    jurisdiction: str
    open_case: uuid.UUID | None = None
    closed_case: uuid.UUID | None = None  # the last one closed: a new report reopens it
    reports: int = 0  # reports recorded about the child so far
    new: bool = False  # registered by this batch
    changed: bool = False  # known before, its identity or digests completed by this batch
    provisional: bool = False  # described, not named: only a person links it to a known child


@dataclass(frozen=True)
class Placed:
    """Where one report or survey row landed."""

    child_id: uuid.UUID
    case_id: uuid.UUID | None  # None: a survey row that found no difficulty opens no case
    earlier_reports: int
    case: str | None  # "joined", "reopened" or "opened"
    case_number: str | None = None  # the case's, once known (a new case's: once its batch reserved it)


@dataclass
class Registry:
    """The children a batch is about, by id and by both digests. Decisions replace a child's
    record here, so a later event of the batch sees what an earlier one decided."""

    children: dict[uuid.UUID, KnownChild] = field(default_factory=dict)
    case_numbers: dict[uuid.UUID, str] = field(default_factory=dict)  # of the cases loaded with them
    _by_nid: dict[str, uuid.UUID] = field(default_factory=dict)
    _by_match: dict[str, list[uuid.UUID]] = field(default_factory=dict)

    def put(self, child: KnownChild) -> None:
        self.children[child.id] = child
        if child.provisional:
            return  # never matched: another report about it opens another provisional child
        if child.national_id_digest:
            self._by_nid.setdefault(child.national_id_digest, child.id)
        if child.match_digest and child.id not in self._by_match.get(child.match_digest, ()):
            self._by_match.setdefault(child.match_digest, []).append(child.id)

    def find(self, subject: Subject) -> KnownChild | None:
        """Exact national id first; else the first child (in registration order) with the same
        name, birth date and territory whose national id, if known, does not differ."""
        nid = subject.national_id_digest
        if subject.provisional:
            return None
        if nid and nid in self._by_nid:
            return self.children[self._by_nid[nid]]
        for child_id in self._by_match.get(subject.match_digest or "", ()):
            child = self.children[child_id]
            if nid is None or child.national_id_digest in (None, nid):
                return child
        return None


def completed(child: KnownChild, subject: Subject) -> KnownChild:
    """The child with what this subject adds to its identity: a value already known is kept."""
    identity = {**subject.identity, **{k: v for k, v in child.identity.items() if v is not None}}
    nid = child.national_id_digest or subject.national_id_digest
    match = child.match_digest or subject.match_digest
    if (identity, nid, match) == (child.identity, child.national_id_digest, child.match_digest):
        return child
    return dataclasses.replace(
        child, identity=identity, national_id_digest=nid, match_digest=match, changed=not child.new
    )


def place(
    registry: Registry, subject: Subject, *, opens_case: bool, new_id: Callable[[], uuid.UUID] = uuid.uuid4
) -> Placed:
    """Match or register the subject's child; with `opens_case`, count a report about it and
    join its open case, reopen its last closed one, or open a new one."""
    child = registry.find(subject)
    if child is None:
        child = KnownChild(
            id=new_id(),
            national_id_digest=subject.national_id_digest,
            match_digest=subject.match_digest,
            identity=subject.identity,
            jurisdiction=subject.jurisdiction,
            new=True,
            provisional=subject.provisional,
        )
    else:
        child = completed(child, subject)
    if not opens_case:
        registry.put(child)
        return Placed(child.id, None, child.reports, None)
    if child.open_case is not None:
        case_id, how = child.open_case, "joined"
    elif child.closed_case is not None:
        # A case's history (and every agency's record of it) stays in one place.
        case_id, how = child.closed_case, "reopened"
    else:
        case_id, how = new_id(), "opened"
    earlier = child.reports
    registry.put(
        dataclasses.replace(
            child,
            open_case=case_id,
            closed_case=None if how == "reopened" else child.closed_case,
            reports=earlier + 1,
        )
    )
    return Placed(child.id, case_id, earlier, how)


def numbered(placed: Sequence[Placed], numbers: Mapping[uuid.UUID, str]) -> list[Placed]:
    """Each placement with its case's number: a joined or reopened case keeps the one it has, a case
    the batch opened takes the one reserved for it (and so does a later report of the batch joining it)."""
    return [
        p if p.case_id is None else dataclasses.replace(p, case_number=numbers[p.case_id]) for p in placed
    ]


# ---- reports and survey rows: one batch-wide state, each decided in offset order -------------------


@dataclass(frozen=True)
class Submission:
    """One report to record: who sent it (reports are de-duplicated per source) and who
    recorded it."""

    report: HotlineReport
    source: str
    recorded_by: str


ReportKey = tuple[str, str, str | None]  # source, channel, the source's id of it


def report_key(submission: Submission) -> ReportKey:
    return submission.source, submission.report.channel.value, submission.report.external_id


def submission_of(item: HotlineReport | Submission) -> Submission:
    """A hotline report off its topic is the hotline's, recorded by it."""
    return item if isinstance(item, Submission) else Submission(item, HOTLINE_SOURCE, HOTLINE_SOURCE)


@dataclass(frozen=True)
class Recorded:
    report_id: uuid.UUID
    case_id: uuid.UUID
    child_ref: uuid.UUID
    earlier_reports: int
    duplicate: bool
    opened_in: str | None = None  # the territory of the case, when this report opened it
    case_number: str | None = None  # None until saved, for a case its batch opened


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


@dataclass
class Intake:
    """What a batch of reports or survey rows decides on: the registry it loaded (children, their
    cases and counts), what was recorded before it, and what it decided so far."""

    registry: Registry = field(default_factory=Registry)
    before: dict[ReportKey, Recorded] = field(default_factory=dict)  # reports their source sent before
    screened: dict[str, uuid.UUID] = field(default_factory=dict)  # survey rows kept: external id → child
    recorded: dict[ReportKey, Recorded] = field(default_factory=dict)  # by this batch
    answers: list[Recorded] = field(default_factory=list)  # each submission's, in order
    # The subjects the store already computed (their digests are what it locked), by report key or
    # survey row id; a rule computes one it does not find.
    subjects: dict[Any, Subject] = field(default_factory=dict)


@dataclass(frozen=True)
class NewReport:
    """A report to store (encrypted by the store)."""

    report_id: uuid.UUID
    submission: Submission
    child_id: uuid.UUID
    case_id: uuid.UUID
    age_years: int | None


@dataclass(frozen=True)
class OpenedCase:
    """A new case, numbered by the store from its county's counter of `opened_at`'s year."""

    id: uuid.UUID
    child_id: uuid.UUID
    jurisdiction: str
    opened_at: datetime


@dataclass(frozen=True)
class ReopenedCase:
    id: uuid.UUID


@dataclass(frozen=True)
class NewScreening:
    """A survey row to keep (its situation encrypted by the store)."""

    id: uuid.UUID
    record: ScreeningRecord
    child_id: uuid.UUID
    case_id: uuid.UUID | None
    report_id: uuid.UUID | None


def report(state: Intake, item: HotlineReport | Submission, keys: IntakeResources, now: datetime) -> Decision:
    """A report: answered again if its source sent it before (or earlier in the batch), else its
    child found or registered, its case joined, reopened or opened, and `case.reported` emitted."""
    submission = submission_of(item)
    check_jurisdiction(submission.report, keys.territory)
    age = age_in_years(submission.report)
    key = report_key(submission)
    if key in state.before:
        state.answers.append(state.before[key])
        return Decision(state)
    if key in state.recorded:  # the same report twice in one batch is recorded once
        state.answers.append(dataclasses.replace(state.recorded[key], duplicate=True))
        return Decision(state)
    subject = state.subjects.get(key) or subject_of(
        submission.report.child, submission.report.jurisdiction, keys
    )
    placed = place(state.registry, subject, opens_case=True, new_id=keys.new_id)
    decision, recorded = _reported(state, submission, placed, age, keys, now)
    state.recorded[key] = recorded
    state.answers.append(recorded)
    return decision


def screening(state: Intake, record: ScreeningRecord, keys: IntakeResources, now: datetime) -> Decision:
    """A survey row, kept once (the same file imported again changes nothing): its child found or
    registered; a row with a difficulty is recorded as a report (and joins or opens the child's
    case), most surveyed children are fine and only join the registry."""
    if record.external_id in state.screened:
        return Decision(state)
    check_jurisdiction(record, keys.territory)
    subject = state.subjects.get(record.external_id) or subject_of(record.child, record.jurisdiction, keys)
    placed = place(state.registry, subject, opens_case=bool(record.categories), new_id=keys.new_id)
    state.screened[record.external_id] = placed.child_id
    events: Sequence[CaseReported] = ()
    records: list[Any] = []
    report_id = None
    if placed.case_id is not None:
        as_reported = as_report(record)
        submission = Submission(as_reported, SCREENING_SOURCE, f"screening:{record.surveyor_ref}")
        decision, recorded = _reported(state, submission, placed, age_in_years(as_reported), keys, now)
        events, records, report_id = decision.events, list(decision.records), recorded.report_id
    records.append(NewScreening(keys.new_id(), record, placed.child_id, placed.case_id, report_id))
    return Decision(state, events, records, case_id=placed.case_id)


def _reported(
    state: Intake,
    submission: Submission,
    placed: Placed,
    age: int | None,
    keys: IntakeResources,
    now: datetime,
) -> tuple[Decision, Recorded]:
    """A placed report: stored, its case opened or reopened, and its `case.reported` (numbered, but
    for a case this batch opened: its number is the store's to reserve)."""
    assert placed.case_id is not None
    report = submission.report
    report_id = keys.new_id()
    number = state.registry.case_numbers.get(placed.case_id)
    records: list[Any] = [NewReport(report_id, submission, placed.child_id, placed.case_id, age)]
    if placed.case == "opened":
        records.append(OpenedCase(placed.case_id, placed.child_id, report.jurisdiction, now))
    elif placed.case == "reopened":
        records.append(ReopenedCase(placed.case_id))
    event = CaseReported(
        case_id=placed.case_id,
        report_id=report_id,
        child_ref=placed.child_id,
        external_id=report.external_id,
        channel=report.channel,
        jurisdiction=report.jurisdiction,
        age_years=age,
        categories=list(dict.fromkeys(report.categories)),
        indicators=list(dict.fromkeys(report.indicators)),
        earlier_reports=placed.earlier_reports,
        reported_at=report.received_at,
        case_number=number,
    )
    recorded = Recorded(
        report_id,
        placed.case_id,
        placed.child_id,
        placed.earlier_reports,
        duplicate=False,
        opened_in=report.jurisdiction if placed.case == "opened" else None,
        case_number=number,
    )
    return Decision(state, (event,), records, case_id=placed.case_id), recorded


@dataclass(frozen=True)
class CaseNumbers:
    """The numbers of the cases a batch touched, once its store reserved the new ones': what completes
    its `case.reported` events and its answers."""

    numbers: Mapping[uuid.UUID, str]

    def __call__(self, payload: Any) -> Any:
        if isinstance(payload, CaseReported) and payload.case_number is None:
            return payload.model_copy(update={"case_number": self.numbers[payload.case_id]})
        return payload

    def recorded(self, recorded: Recorded) -> Recorded:
        if recorded.case_number is not None:
            return recorded
        return dataclasses.replace(recorded, case_number=self.numbers[recorded.case_id])


# ---- a case closed or reopened in casework: intake's record follows ------------------------------


@dataclass(frozen=True)
class CaseRecord:
    """Intake's record of a case, as closures and reopenings change it."""

    id: uuid.UUID
    state: str
    stage: str
    closed_at: datetime | None
    reopened_at: datetime | None


def closed(case: CaseRecord | None, event: Envelope, keys: Any, now: datetime) -> Decision:
    """Casework closed the case: the next report about the child reopens it. A closure an undone link
    or a person's reopening has since reversed (the case reopened after it) closes nothing; a closed case
    keeps its latest closure's moment, so a person's reopening read after a later closure reopens nothing
    (`reopened`)."""
    at = event.payload.closed_at
    if case is None:
        return Decision(None)
    open_or_later = case.state == CaseStatus.open.value or (
        case.closed_at is not None and case.closed_at < at
    )
    not_reversed = case.reopened_at is None or case.reopened_at < at
    if not (open_or_later and not_reversed):
        return Decision(None)
    return Decision(
        dataclasses.replace(
            case,
            state=CaseStatus.closed.value,
            stage="closed",
            closed_at=at if case.closed_at is None else max(case.closed_at, at),
        )
    )


def reopened(case: CaseRecord | None, event: Envelope, keys: Any, now: datetime) -> Decision:
    """A person reopened the case in casework: intake's record follows, open again at the event's
    stage. It is always the child's only case (a report joins or reopens the child's case, a merged
    child is never matched again), so one open case per child holds; casework refuses a case a link
    merged away. Read in either order with closures: one before the reopening closes nothing
    (`reopened_at`), one after it stays — both moments casework's own."""
    at = event.payload.reopened_at
    if case is None:
        return Decision(None)
    if not (case.state == CaseStatus.open.value or case.closed_at is None or case.closed_at <= at):
        return Decision(None)
    return Decision(
        dataclasses.replace(
            case,
            state=CaseStatus.open.value,
            stage=event.payload.stage.value if case.state == CaseStatus.closed.value else case.stage,
            closed_at=None,
            reopened_at=at if case.reopened_at is None else max(case.reopened_at, at),
        )
    )


CASE_RULES = {CaseClosed: closed, CaseReopened: reopened}


# ---- referrals: which agency may read which child ------------------------------------------------


@dataclass
class Grants:
    """What a batch of referral news, in offset order, leaves of each referral's grant: the ones only
    created (added unless a later state came first, from the other topic) and the ones whose status
    changed (the last change wins; one referral's changes share a partition, keyed by case, so they
    arrive in order). One row a referral, for one statement each."""

    created: dict[uuid.UUID, dict] = field(default_factory=dict)
    changed: dict[uuid.UUID, dict] = field(default_factory=dict)
    # Services (`service.status`): the last change of each wins, one row a service.
    services: dict[uuid.UUID, dict] = field(default_factory=dict)


def granted(grants: Grants | None, event: Envelope, keys: Any, now: datetime | None) -> Decision:
    grants = Grants() if grants is None else grants
    referral = event.payload
    if isinstance(referral, ServiceChanged):
        return _service_granted(grants, referral, now)
    if isinstance(referral, ConsentWithdrawn):
        # Intake's own word to the agency's kit, read back on the agency's topic: the record is kept already.
        return Decision(grants)
    values = {
        "referral_id": referral.referral_id,
        "case_id": referral.case_id,
        "agency": referral.agency.value,
    }
    if isinstance(referral, ReferralStatusChanged | ReferralWithdrawn):
        # A withdrawal is told on the agency's own topic too: the grant ends whichever comes first.
        state = referral.state if isinstance(referral, ReferralStatusChanged) else ReferralState.withdrawn
        grants.created.pop(referral.referral_id, None)
        grants.changed[referral.referral_id] = {**values, "state": state.value, "updated_at": now}
    elif isinstance(referral, ReferralCreated) and referral.referral_id not in grants.changed:
        grants.created.setdefault(
            referral.referral_id,
            {**values, "state": ReferralState.created.value, "emergency": referral.emergency},
        )
    return Decision(grants)


def _service_granted(grants: Grants, service: ServiceChanged, now: datetime | None) -> Decision:
    grants.services[service.service_id] = {
        "service_id": service.service_id,
        "case_id": service.case_id,
        "provider_id": service.provider_id,
        "provider_kind": service.provider_kind.value,
        "state": service.state.value,
        "updated_at": now or service.changed_at,
    }
    return Decision(grants)


def grants_after(events: Iterable[Any], now: datetime | None = None) -> tuple[list[dict], list[dict]]:
    """The grants a batch of referral news leaves (`granted`, folded): created, and changed."""
    grants = Grants()
    for event in events:
        granted(grants, event, None, now)
    return list(grants.created.values()), list(grants.changed.values())
