"""Intake's HTTP API: reports from schools, hospitals, villages and police (the hotline's
contract over HTTP), the per-child information archive for caseworkers, finding a child (or the cases
a reporter's phone reported), and identifying a child nobody could name (a case's links, and a
supervisor's undo with its note)."""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from sqlalchemy import func, insert, select, update

from services.intake import tables as t
from services.intake.access import Entitlement, entitlement, latest_case
from services.intake.consent import NO_CONSENT
from services.intake.disclosure import IDENTITY_FIELDS
from services.intake.identification import Refused, SameChild
from services.intake.links import CaseLink, ChildNotFound, Outside, identify, links_of_case, undo_link
from services.intake.links import Outcome as LinkOutcome
from services.intake.reports import MAX_RAW_REPORT_BYTES, ReportRejected, age_in_years, check_jurisdiction
from services.intake.search import (
    CASES_BY_PHONE,
    ChildQuery,
    PhoneQuery,
    answer_no_sooner_than,
    cases_reported_from,
    find_child,
)
from services.intake.submissions import KeyReused, Outcome, SubmissionBatches, Submitted
from shared.access import CaseNotes, Purpose, notes_route, read_notes_of_case, record_access, territorial
from shared.auth import CASE_SIDE, REPORTERS, Principal, Role, require_role
from shared.contracts.hotline import (
    UNNAMED,
    Address,
    AgeEstimate,
    HotlineReport,
    NationalId,
    PersonName,
    SchoolName,
    Sex,
    field_error,
    identifies,
)
from shared.contracts.vocabulary import (
    AccessPurpose,
    CaseNumber,
    CaseStatus,
    IdentificationReason,
    Jurisdiction,
    LinkUndoReason,
    PersonalField,
    PersonalRecord,
)
from shared.http import answers, inline_schema, strict_body, unprocessable
from shared.notes import NoteText
from shared.phone import MAX_DIGITS, MIN_DIGITS, phone_number
from shared.ratelimit import limit_personal_data
from shared.service import ServiceContext, service_context
from shared.telemetry import current_trace_headers
from shared.unit_of_work import Work

router = APIRouter(tags=["intake"])

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")
]


ReportStatus = Literal["accepted", "duplicate"]
Reporters = require_role(*REPORTERS)
# Those who work a case may learn which case a report joined; a reporting institution or
# the hotline learns nothing back (not even whether the child was known).
CASE_WORKERS = frozenset({Role.caseworker, Role.supervisor})
OUTSIDE_TERRITORY = "the report's jurisdiction lies outside your territory"
KEY_REUSED = "this Idempotency-Key was used for a different report"


class ReportReceipt(BaseModel):
    """A reporting institution's or the hotline's receipt: the report is durably stored."""

    model_config = ConfigDict(extra="forbid")

    report_id: uuid.UUID
    status: ReportStatus = Field(
        description="duplicate only when you had already submitted this report "
        "(an idempotent replay, or the same channel and external_id)"
    )


class ReportRecorded(ReportReceipt):
    """A caseworker's or supervisor's answer, when the case lies in their territory."""

    case_id: uuid.UUID
    case_number: CaseNumber = Field(description="The case's number people say and write (个案编号)")
    child_ref: uuid.UUID
    earlier_reports: int = Field(description="reports about the child recorded before this one")


@router.post(
    "/v1/reports",
    status_code=202,
    response_model=ReportReceipt | ReportRecorded,
    max_body_size=MAX_RAW_REPORT_BYTES,
    summary="Submit a report about a child (the hotline contract, over HTTP)",
    description="For the roles that report (hotline, reporter, caseworker, supervisor), about a child in "
    "their territory. A reporter or the hotline is answered with a receipt (`ReportReceipt`): "
    "the report id and status, nothing about the child or case. A caseworker or supervisor is "
    "told the case the report joined or opened, with its number (`ReportRecorded`), when that "
    "case lies in their territory, and given the receipt otherwise (a case's number would tell a "
    "reporter whether the child was known).",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(HotlineReport)}},
        }
    },
    responses=answers(
        403,
        409,
        413,
        described={
            403: "your role does not report, or the report's jurisdiction lies outside your territory",
            409: "Idempotency-Key reused for a different report",
        },
    ),
)
async def submit_report(
    request: Request,
    principal: Annotated[Principal, Depends(Reporters)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
    idempotency_key: IdempotencyKey = None,
) -> ReportReceipt | ReportRecorded:
    """Answers 202 only once the report is durably committed (with the others of its batch)."""
    report = await strict_body(request, HotlineReport)
    if not principal.can_see(report.jurisdiction):
        raise HTTPException(status_code=403, detail=OUTSIDE_TERRITORY)
    try:
        check_jurisdiction(report, ctx.resources.territory)
        age_in_years(report)
        outcome = await _batches(request, ctx).record(
            Submitted(
                report=report,
                subject=principal.subject,
                idempotency_key=idempotency_key,
                digest=hashlib.sha256(await request.body()).hexdigest(),
                trace=current_trace_headers(),
                wants_case=principal.role in CASE_WORKERS,
            )
        )
    except ReportRejected as exc:
        raise unprocessable(
            [{"loc": ["body", *str(exc).split(":")[0].split(".")], "msg": str(exc), "type": "value_error"}]
        ) from None
    except KeyReused:
        raise HTTPException(status_code=409, detail=KEY_REUSED) from None
    return _answer(principal, outcome)


# Who learns what became of their own reports: the network's own people — its hotline desk follows
# each call to its case (issue 19) — but not a reporting institution, whose list would tell it
# whether a child was known already (its receipt does not either).
OWN_CASES_TOLD = CASE_WORKERS | {Role.hotline}


class SubmittedReport(BaseModel):
    """One of the caller's own reports, and where it stands: ids, a time and the case's number and
    state (for the network's own people only), no personal data."""

    report_id: uuid.UUID
    received_at: datetime
    case_id: uuid.UUID | None = Field(description="null for a reporting institution")
    case_number: CaseNumber | None
    case_state: CaseStatus | None


@router.get(
    "/v1/reports",
    response_model=list[SubmittedReport],
    summary="The reports you submitted, newest first: each one's case, its number and state",
)
async def list_own_reports(
    principal: Annotated[Principal, Depends(Reporters)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
    submitted_by: Annotated[Literal["me"], Query(description="`me`: a person lists only their own reports")],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[SubmittedReport]:
    """The caller learns of the reports they submitted themselves (as `recorded_by` names them) and of
    nothing else: no other reporter's report, no child, no narrative; a reporting institution not
    even the case (OWN_CASES_TOLD)."""
    r, c = t.reports.c, t.cases.c
    query = (
        select(r.id, r.received_at, r.case_id, c.case_number, c.state)
        .join(t.cases, c.id == r.case_id)
        .where(r.recorded_by == principal.subject)
        .order_by(r.received_at.desc(), r.id)
        .limit(limit)
    )
    async with ctx.sessions() as session:
        rows = (await session.execute(query)).all()
    told = principal.role in OWN_CASES_TOLD

    def case(value):
        return value if told else None

    return [
        SubmittedReport(
            report_id=row.id,
            received_at=row.received_at,
            case_id=case(row.case_id),
            case_number=case(row.case_number),
            case_state=case(row.state),
        )
        for row in rows
    ]


def _batches(request: Request, ctx: ServiceContext) -> SubmissionBatches:
    """The running service's one SubmissionBatches, made at its first report."""
    made = getattr(request.app.state, "submission_batches", None)
    if made is None or made[0] is not ctx:
        made = request.app.state.submission_batches = (
            ctx,
            SubmissionBatches(ctx.engine, ctx.resources, after_commit=ctx.relay.wake),
        )
    return made[1]


def _answer(principal: Principal, outcome: Outcome) -> ReportReceipt:
    recorded = outcome.recorded
    if outcome.case_jurisdiction is not None and principal.can_see(outcome.case_jurisdiction):
        return ReportRecorded(
            report_id=recorded.report_id,
            status=_status(recorded.duplicate),
            case_id=recorded.case_id,
            case_number=recorded.case_number,
            child_ref=recorded.child_ref,
            earlier_reports=recorded.earlier_reports,
        )
    # Reports are de-duplicated per source (services/intake/reports.py): "duplicate" only ever
    # speaks of the caller's own earlier submission, never of anyone else's report.
    return ReportReceipt(report_id=recorded.report_id, status=_status(recorded.duplicate))


def _status(duplicate: bool) -> ReportStatus:
    return "duplicate" if duplicate else "accepted"


# ---- the case, as intake knows it ---------------------------------------------------------


class CaseSummary(BaseModel):
    case_id: uuid.UUID
    case_number: CaseNumber
    child_ref: uuid.UUID
    provisional: bool = Field(
        description="Nobody could name the child yet: a person identifies it "
        "(POST /v1/children/{child_ref}/identification)"
    )
    state: str
    jurisdiction: str
    opened_at: datetime
    reports: int


CaseReaders = require_role(Role.caseworker, Role.supervisor, Role.operator)


@router.get(
    "/v1/cases/{case_id}",
    response_model=CaseSummary,
    responses=answers(404),
    summary="A case's intake summary (no personal data)",
)
async def get_case(
    case_id: uuid.UUID,
    principal: Annotated[Principal, Depends(CaseReaders)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
) -> CaseSummary:
    async with ctx.sessions() as session:
        row = (
            await session.execute(
                select(t.cases, t.children.c.provisional)
                .join(t.children, t.children.c.id == t.cases.c.child_id)
                .where(t.cases.c.id == case_id)
            )
        ).first()
        if row is None or not principal.can_see(row.jurisdiction):
            raise HTTPException(status_code=404, detail="no such case in your territory")
        count = await session.scalar(
            select(func.count()).select_from(t.reports).where(t.reports.c.case_id == case_id)
        )
    return CaseSummary(
        case_id=row.id,
        case_number=row.case_number,
        child_ref=row.child_id,
        provisional=row.provisional,
        state=row.state,
        jurisdiction=row.jurisdiction,
        opened_at=row.opened_at,
        reports=count,
    )


# ---- a child's details: the claim check of DESIGN §3 -------------------------------------

DetailReaders = require_role(Role.caseworker, Role.supervisor, Role.agency_officer, Role.provider_worker)
NO_SUCH_CASE = "no such case in your territory"


class ChildDetails(BaseModel):
    """What the reader's role or agency may be shown of the child (config/disclosure.yaml)."""

    case_id: uuid.UUID
    case_number: CaseNumber
    child_ref: uuid.UUID
    provisional: bool = Field(
        description="Nobody could name the child yet: it is described (appearance, place_seen) instead"
    )
    jurisdiction: str
    access_id: uuid.UUID = Field(description="The ledger's record of this read")
    purpose: AccessPurpose
    shown: list[PersonalField] = Field(description="The fields you may see; the others are left out")
    identity: dict[str, Any] = Field(description="The child's identity, restricted to `shown`")
    reports: list[dict[str, Any]] = Field(
        description="Each report's id, channel and time, with its narrative "
        "and reporter when `shown` includes them"
    )


@router.get(
    "/v1/cases/{case_id}/child",
    response_model=ChildDetails,
    summary="A child's personal details, for the case's caseworkers and the agencies it is referred to",
    dependencies=[Depends(limit_personal_data)],
    responses=answers(
        403,
        404,
        503,
        described={
            403: "no consent in force names your kind of agency or provider (said in words)",
            404: "no such case in your territory, or no open referral of it to your agency (no open "
            "service of it by your organisation)",
            503: "the read could not be recorded: nothing is shown",
        },
    ),
)
async def read_child_details(
    case_id: uuid.UUID,
    purpose: Purpose,
    principal: Annotated[Principal, Depends(DetailReaders)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
) -> ChildDetails:
    """An agency officer reads only while a referral of the case to the agency is open, a provider's
    worker while a service of the case by its organisation is open, and both only with a consent that
    names their kind or a supervisor's override (the police on an emergency need none). Every read is
    recorded (who, agency or provider, record, fields, purpose, what entitled it) before anything is
    shown, and so is a refused attempt on an existing case (answered like a case that does not exist,
    but for a missing consent, which is told in words: the reader knows the case by its referral)."""
    async with ctx.unit_of_work() as work:
        session = work.tx
        case = (await session.execute(select(t.cases).where(t.cases.c.id == case_id))).first()
        if case is None:
            raise HTTPException(status_code=404, detail=NO_SUCH_CASE)
        entitled = await entitlement(session, principal, case_id, case.jurisdiction)
        shown = ctx.resources.disclosure.fields_for(principal, entitled.provider_kind)
        if entitled.refusal is None:
            child = (
                await session.execute(
                    select(t.children.c.identity, t.children.c.provisional).where(
                        t.children.c.id == case.child_id
                    )
                )
            ).one()
            reports = (
                await session.execute(
                    select(t.reports).where(t.reports.c.case_id == case_id).order_by(t.reports.c.received_at)
                )
            ).all()
        access_id = record_access(
            work.uow,
            principal,
            case_id=case_id,
            child_ref=case.child_id,
            jurisdiction=case.jurisdiction,
            record=PersonalRecord.child_details,
            fields=shown,
            purpose=purpose,
            referral_id=entitled.referral_id if entitled.refusal is None else None,
            refusal=entitled.refusal,
            service_id=entitled.service_id,
            consent_id=entitled.consent_id,
        )
    # Committed: the read (or the refused attempt) is on the ledger's way. Only now is
    # anything decrypted and shown.
    if entitled.refusal:
        raise _refused_read(principal, entitled)
    cipher = ctx.resources.cipher
    identity = cipher.decrypt_json(child.identity, record_id=str(case.child_id))
    return ChildDetails(
        case_id=case_id,
        case_number=case.case_number,
        child_ref=case.child_id,
        provisional=child.provisional,
        jurisdiction=case.jurisdiction,
        access_id=access_id,
        purpose=purpose,
        shown=list(shown),
        identity={f.value: identity.get(f.value) for f in shown if f in IDENTITY_FIELDS},
        reports=[_report_details(row, cipher, shown) for row in reports],
    )


def _refused_read(principal: Principal, entitled: Entitlement) -> HTTPException:
    if entitled.refusal == NO_CONSENT:
        return HTTPException(
            status_code=403,
            detail="no consent: the family has not agreed to share this child's details with "
            f"{entitled.party} (no consent or override in force names it); a supervisor may override "
            "it with a reason",
        )
    if entitled.refusal == "no_open_referral":
        return HTTPException(status_code=404, detail=f"no open referral of this case to {principal.agency}")
    if entitled.refusal == "no_open_service":
        return HTTPException(status_code=404, detail="no open service of this case by your organisation")
    return HTTPException(status_code=404, detail=NO_SUCH_CASE)


def _report_details(row, cipher, shown: tuple[PersonalField, ...]) -> dict[str, Any]:
    details: dict[str, Any] = {
        "report_id": str(row.id),
        "channel": row.channel,
        "received_at": row.received_at.isoformat(),
    }
    if PersonalField.narratives in shown or PersonalField.reporters in shown:
        confidential = cipher.decrypt_json(row.confidential, record_id=str(row.id))
        if PersonalField.narratives in shown:
            details["narrative"] = confidential["narrative"]
        if PersonalField.reporters in shown:
            details["reporter"] = confidential["reporter"]
    return details


# ---- the information archive ----------------------------------------------------------------

ArchiveText = Annotated[str, StringConstraints(max_length=5000)]
ARCHIVE_FIELDS = (
    PersonalField.home,
    PersonalField.school,
    PersonalField.community,
    PersonalField.difficulties,
    PersonalField.risks,
)


class ArchiveContent(BaseModel):
    """The child's situation and risks, in the caseworker's words."""

    model_config = ConfigDict(extra="forbid")

    home: ArchiveText = ""
    school: ArchiveText = ""
    community: ArchiveText = ""
    difficulties: ArchiveText = ""
    risks: ArchiveText = ""


class Archive(ArchiveContent):
    child_ref: uuid.UUID
    version: int
    updated_at: datetime | None
    updated_by: str | None
    access_id: uuid.UUID = Field(description="The ledger's record of this read or update")


ArchiveUsers = require_role(*CASE_SIDE)


NO_SUCH_CHILD = "no such child in your territory"


async def _record_archive_access(
    work: Work, child_ref: uuid.UUID, principal: Principal, purpose: AccessPurpose, action: str
) -> tuple[uuid.UUID, bool]:
    """The access, on record, and whether it is allowed: 404 for an unknown child; a child
    outside the principal's territory is a refused access, recorded too."""
    latest = await latest_case(work.tx, child_ref)
    if latest is None:
        raise HTTPException(status_code=404, detail=NO_SUCH_CHILD)
    allowed = principal.can_see(latest.jurisdiction)
    access_id = record_access(
        work.uow,
        principal,
        case_id=latest.id,
        child_ref=child_ref,
        jurisdiction=latest.jurisdiction,
        record=PersonalRecord.archive,
        fields=ARCHIVE_FIELDS,
        purpose=purpose,
        action=action,
        refusal=None if allowed else "outside_territory",
    )
    return access_id, allowed


async def _write_archive(
    session, child_ref: uuid.UUID, token: bytes, principal: Principal, if_match: int | None
):
    current = await session.scalar(
        select(t.archives.c.version).where(t.archives.c.child_id == child_ref).with_for_update()
    )
    if if_match is not None and if_match != (current or 0):
        raise HTTPException(status_code=409, detail=f"archive is at version {current or 0}, not {if_match}")
    values = {
        "content": token,
        "version": (current or 0) + 1,
        "updated_at": func.now(),
        "updated_by": principal.subject,
    }
    if current is None:
        await session.execute(insert(t.archives).values(child_id=child_ref, **values))
    else:
        await session.execute(update(t.archives).where(t.archives.c.child_id == child_ref).values(**values))
    return (await session.execute(select(t.archives).where(t.archives.c.child_id == child_ref))).first()


def _refused_after_commit(ctx: ServiceContext) -> HTTPException:
    return HTTPException(status_code=404, detail=NO_SUCH_CHILD)


def _archive(ctx: ServiceContext, child_ref: uuid.UUID, row, access_id: uuid.UUID) -> Archive:
    if row is None:
        return Archive(child_ref=child_ref, version=0, updated_at=None, updated_by=None, access_id=access_id)
    content = ctx.resources.cipher.decrypt_json(row.content, record_id=f"archive:{child_ref}")
    return Archive(
        child_ref=child_ref,
        version=row.version,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        access_id=access_id,
        **content,
    )


@router.get(
    "/v1/children/{child_ref}/archive",
    response_model=Archive,
    summary="Read a child's information archive",
    dependencies=[Depends(limit_personal_data)],
    responses=answers(
        404, 503, described={404: NO_SUCH_CHILD, 503: "the read could not be recorded: nothing is shown"}
    ),
)
async def read_archive(
    child_ref: uuid.UUID,
    purpose: Purpose,
    principal: Annotated[Principal, Depends(ArchiveUsers)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
) -> Archive:
    async with ctx.unit_of_work() as work:
        session = work.tx
        access_id, allowed = await _record_archive_access(work, child_ref, principal, purpose, "read")
        row = (
            (await session.execute(select(t.archives).where(t.archives.c.child_id == child_ref))).first()
            if allowed
            else None
        )
    if not allowed:
        raise _refused_after_commit(ctx)
    return _archive(ctx, child_ref, row, access_id)


@router.put(
    "/v1/children/{child_ref}/archive",
    response_model=Archive,
    summary="Update a child's information archive",
    dependencies=[Depends(limit_personal_data)],
    responses=answers(
        404, 409, 413, described={404: NO_SUCH_CHILD, 409: "the archive changed since the version you read"}
    ),
)
async def update_archive(
    child_ref: uuid.UUID,
    content: ArchiveContent,
    purpose: Purpose,
    principal: Annotated[Principal, Depends(ArchiveUsers)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
    # Declared `integer` (not nullable): a header is absent or a number, never the text "null".
    if_match: Annotated[
        int, Header(alias="If-Match", ge=0, le=2**31 - 1, description="the version you read")
    ] = None,  # type: ignore[assignment]
) -> Archive:
    """Optimistic concurrency: with If-Match, a caseworker never overwrites a colleague's
    update unseen. The change is recorded on the ledger like a read."""
    token = ctx.resources.cipher.encrypt_json(content.model_dump(), record_id=f"archive:{child_ref}")
    async with ctx.unit_of_work() as work:
        session = work.tx
        access_id, allowed = await _record_archive_access(work, child_ref, principal, purpose, "update")
        if allowed:
            row = await _write_archive(session, child_ref, token, principal, if_match)
    if not allowed:
        raise _refused_after_commit(ctx)
    return _archive(ctx, child_ref, row, access_id)


# ---- find a child before opening a case ---------------------------------------------------------


def _a_phone_number(value: str) -> str:
    # The message never repeats the value: it is a reporter's personal data.
    if phone_number(value) is None:
        raise ValueError(
            f"not a phone number: {MIN_DIGITS} to {MAX_DIGITS} digits, perhaps after a + and "
            "with spaces, dashes or brackets between them"
        )
    return value


ReporterPhone = Annotated[str, StringConstraints(max_length=40), AfterValidator(_a_phone_number)]


def _written_as_a_day(value: object) -> object:
    # JSON has no date: a day is the text "YYYY-MM-DD" (Pydantic's lax mode took 0 as 1970-01-01).
    if not isinstance(value, str | date):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


IsoDay = Annotated[date, BeforeValidator(_written_as_a_day)]


_NONE = {"type": "null"}


class ChildSearch(BaseModel):
    """A national ID, or a name with birth date and the 12-digit code of the place the child lives
    (as reports give it); or, alone, a reporter's phone. In the body, never the URL: these are
    personal data."""

    # The ways to search, in the schema too (the model's validator is the rule).
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["national_id"],
                    "properties": {"national_id": {"type": "string"}, "reporter_phone": _NONE},
                },
                {
                    "required": ["name", "birth_date", "jurisdiction"],
                    "properties": {
                        "name": {"type": "string"},
                        "birth_date": {"type": "string"},
                        "jurisdiction": {"type": "string"},
                        "reporter_phone": _NONE,
                    },
                },
                {
                    "required": ["reporter_phone"],
                    "properties": {
                        "reporter_phone": {"type": "string"},
                        "national_id": _NONE,
                        "name": _NONE,
                        "birth_date": _NONE,
                        "jurisdiction": _NONE,
                    },
                },
            ]
        },
    )

    purpose: AccessPurpose = Field(description="Why you search; kept on the ledger with the search")
    national_id: NationalId | None = None
    name: PersonName | None = None
    birth_date: IsoDay | None = None
    jurisdiction: Jurisdiction | None = None
    reporter_phone: ReporterPhone | None = Field(
        default=None,
        description="The cases reported from this phone, however it is written (spaces, "
        "dashes, +86); reports recorded before intake_0008 are not found by it",
    )

    @model_validator(mode="after")
    def _one_way_to_search(self) -> ChildSearch:
        child = (self.national_id, self.name, self.birth_date, self.jurisdiction)
        if self.reporter_phone is not None:
            if any(given is not None for given in child):
                raise field_error(
                    "reporter_phone",
                    "give reporter_phone alone: it finds cases, not a child",
                    model="ChildSearch",
                )
        elif self.national_id is None and None in (self.name, self.birth_date, self.jurisdiction):
            raise ValueError("give national_id, or name with birth_date and jurisdiction, or reporter_phone")
        return self


class ChildMatch(BaseModel):
    child_ref: uuid.UUID
    case_id: uuid.UUID = Field(
        description="The child's open case, else its latest; by phone, the case a "
        "report from it is recorded under"
    )
    case_number: CaseNumber = Field(description="That case's number (个案编号)")
    jurisdiction: str
    access_id: uuid.UUID = Field(description="The ledger's record of this search")


class ChildSearchAnswer(BaseModel):
    matches: list[ChildMatch] = Field(
        description=(
            "The one child the registry matches, or none (also when the child lies outside your "
            "territory); by reporter_phone, the cases in your territory, the latest reported first "
            f"(at most {CASES_BY_PHONE})"
        )
    )


@router.post(
    "/v1/children/search",
    response_model=ChildSearchAnswer,
    dependencies=[Depends(limit_personal_data)],
    summary="Find a child (and its case) before opening a case: exact match, as the registry "
    "matches; or the cases a reporter's phone reported",
    responses=answers(
        413,
        422,
        described={
            422: (
                "invalid fields; or `reporter_phone` is not a phone number: 7 to 15 digits once China's "
                "country code (+86, 0086) and the trunk 0 are left out"
            )
        },
    ),
)
async def search_children(
    body: ChildSearch,
    principal: Annotated[Principal, Depends(ArchiveUsers)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
) -> ChildSearchAnswer:
    """Keyed digests of what is given, matched by the registry's own rule (or, for a phone, equal to the
    digest each report keeps); each match is recorded on the ledger (with the purpose) before it is
    answered, and a match in another territory is recorded as refused and answered as no match — as
    soon as a child nowhere would be: every answer waits out the same budget (search.ANSWER_BUDGET_S)."""
    started = time.monotonic()
    async with ctx.unit_of_work(wake=False) as work:
        if body.reporter_phone is not None:
            phone = PhoneQuery(body.purpose, body.reporter_phone)
            found = await cases_reported_from(work, principal, phone, ctx.resources)
        else:
            query = ChildQuery(
                purpose=body.purpose,
                national_id=body.national_id,
                name=body.name,
                birth_date=body.birth_date,
                jurisdiction=body.jurisdiction,
            )
            child = await find_child(work, principal, query, ctx.resources)
            found = [child] if child else []
    # The relay is woken after the wait: its publishing of the refusal's record, on this process's loop,
    # would otherwise delay this answer alone (it leaves within the relay's poll interval all the same).
    await answer_no_sooner_than(started)
    ctx.relay.wake()
    return ChildSearchAnswer(
        matches=[
            ChildMatch(
                child_ref=match.child_ref,
                case_id=match.case_id,
                case_number=match.case_number,
                jurisdiction=match.jurisdiction,
                access_id=match.access_id,
            )
            for match in found
        ]
    )


# ---- identifying a child nobody could name -----------------------------------------------------


class GivenIdentity(BaseModel):
    """Who the provisional child is, as the person identifying it learned: a national ID, or a name with
    a birth date or an age — as a report names a child."""

    model_config = ConfigDict(extra="forbid")

    name: PersonName | None = None
    national_id: NationalId | None = None
    sex: Sex | None = None
    birth_date: IsoDay | None = None
    age_estimate: AgeEstimate | None = None
    address: Address | None = None
    school: SchoolName | None = None

    @model_validator(mode="after")
    def _names_the_child(self) -> GivenIdentity:
        if not identifies(
            national_id=self.national_id,
            name=self.name,
            birth_date=self.birth_date,
            age_estimate=self.age_estimate,
        ):
            raise ValueError(UNNAMED.replace("child must be", "the identity must be"))
        if self.birth_date is not None and self.birth_date > date.today():
            raise field_error("birth_date", "cannot be in the future", model="GivenIdentity")
        return self


class Identification(BaseModel):
    """Either link the provisional child to the known child (`child_ref`), or give it its identity."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["child_ref"],
                    "properties": {"child_ref": {"type": "string"}, "identity": _NONE},
                },
                {
                    "required": ["identity"],
                    "properties": {"identity": {"type": "object"}, "child_ref": _NONE},
                },
            ]
        },
    )

    reason: IdentificationReason = Field(description="How the child was identified; kept on the ledger")
    child_ref: uuid.UUID | None = Field(
        default=None, description="The known child it is (find it with POST /v1/children/search)"
    )
    identity: GivenIdentity | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Identification:
        if (self.child_ref is None) == (self.identity is None):
            raise field_error(
                "child_ref",
                "give child_ref (the known child) or identity, one of the two",
                model="Identification",
            )
        return self


class LinkUndo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: LinkUndoReason = Field(description="Why the identification is undone; kept on the ledger")
    note: NoteText = None


class ChildLink(BaseModel):
    """An identification, without personal data: the child and case that remain, and what merged into them."""

    link_id: uuid.UUID
    provisional_ref: uuid.UUID
    child_ref: uuid.UUID = Field(description="The child that remains")
    case_id: uuid.UUID = Field(description="The case that remains: every report of both is listed under it")
    case_number: CaseNumber
    merged_child_ref: uuid.UUID | None = Field(
        description="The child merged into child_ref (none when given its identity)"
    )
    merged_case_id: uuid.UUID | None = Field(
        description="The case merged away: casework closes it as a duplicate"
    )
    provisional: bool = Field(
        description="Whether the child that remains is still unnamed (two provisional children linked)"
    )
    reason: IdentificationReason
    linked_by: str
    linked_at: datetime
    undone_at: datetime | None = None
    undo_reason: LinkUndoReason | None = None
    access_id: uuid.UUID = Field(description="The ledger's record of the change to the child's identity")


Identifiers = require_role(Role.caseworker, Role.supervisor)
UNDOERS = frozenset({Role.supervisor})
Undoers = require_role(*UNDOERS)


@router.post(
    "/v1/children/{provisional_ref}/identification",
    status_code=201,
    response_model=ChildLink,
    dependencies=[Depends(limit_personal_data)],
    summary="Identify a child nobody could name: link it to the known child, or give it its identity",
    description="By a caseworker or supervisor whose territory holds both children. One child and "
    "one case remain (an open case before a closed one, then the one opened first, with "
    "its owner and referrals); every report is listed under it; the other case is "
    "closed as a duplicate by casework. `child.linked` puts the decision on the ledger; "
    "a supervisor may undo it.",
    responses=answers(
        404,
        409,
        413,
        422,
        described={
            404: "no such child in your territory (the detail names provisional_ref or child_ref)",
            409: "the child is identified or linked already, or the identity given is a registered child's",
            422: "invalid fields; or the `identity` does not name the child (a national ID, or a name "
            "with a birth date or an age), or its birth date is in the future",
        },
    ),
)
async def identify_child(
    provisional_ref: uuid.UUID,
    body: Identification,
    principal: Annotated[Principal, Depends(Identifiers)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
) -> ChildLink:
    given = body.identity.model_dump(mode="json", exclude_none=True) if body.identity else None
    async with ctx.unit_of_work() as work:
        outcome = await _linking(
            identify(
                work,
                principal,
                provisional_ref,
                reason=body.reason,
                child_ref=body.child_ref,
                given=given,
                keys=ctx.resources,
            )
        )
    return _link_answer(ctx, outcome)


@router.post(
    "/v1/children/links/{link_id}/undo",
    response_model=ChildLink,
    dependencies=[Depends(limit_personal_data)],
    summary="Undo an identification: two children and two cases again, as they were",
    description="By a supervisor whose territory holds both cases. Links are undone in reverse "
    "order: one made later about either child first.",
    responses=answers(
        404,
        409,
        413,
        described={
            404: "no such link in your territory",
            409: "the link was undone already, or a later link about the same children is in force",
        },
    ),
)
async def undo_child_link(
    link_id: uuid.UUID,
    body: LinkUndo,
    principal: Annotated[Principal, Depends(Undoers)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
) -> ChildLink:
    async with ctx.unit_of_work() as work:
        outcome = await _linking(
            undo_link(work, principal, link_id, reason=body.reason, keys=ctx.resources, note=body.note)
        )
    return _link_answer(ctx, outcome)


class CaseIdentification(BaseModel):
    """A link that concerns the case, as a record: who decided it, when and how, the other case, and
    whether it was undone — no data of the child (no name, no ID number: those are its details)."""

    link_id: uuid.UUID
    kind: Literal["linked", "identity_given"] = Field(
        description="linked: the provisional child was linked to a known child (two cases became one); "
        "identity_given: it was given its identity (its case alone)"
    )
    this_case: Literal["remained", "merged"] = Field(
        description="remained: this case remained (the other case's reports were listed under it); merged: "
        "this case was merged away into the other (closed as a duplicate while the link held)"
    )
    other_case_id: uuid.UUID | None = Field(
        description="The link's other case: none when the child was "
        "given its identity, or when that case is outside "
        "your territory"
    )
    other_case_number: CaseNumber | None
    reason: IdentificationReason = Field(description="How the child was identified")
    linked_by: str = Field(description="Pseudonymous id of the person who identified it")
    linked_at: datetime
    undone_at: datetime | None = None
    undone_by: str | None = Field(default=None, description="Pseudonymous id of the supervisor who undid it")
    undo_reason: LinkUndoReason | None = None
    actions: list[Literal["undo"]] = Field(
        description="What you may do with it now: undo — a supervisor whose territory holds both cases, "
        "the link in force and no later link in force about the same children (undone first)"
    )


@router.get(
    "/v1/cases/{case_id}/links",
    response_model=list[CaseIdentification],
    responses=answers(404),
    summary="The identifications that concern a case (as the case that remained or the one merged "
    "away), newest first: records, no personal data",
)
async def list_case_links(
    case_id: uuid.UUID,
    principal: Annotated[Principal, Depends(Identifiers)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
) -> list[CaseIdentification]:
    """For those who identify children (caseworkers and supervisors) whose territory covers the case.
    Not on the access ledger, like the case's summary (GET /v1/cases/{id}): it shows ids, codes, times,
    pseudonymous ids and case numbers, none of the child's personal fields — the identity a link changed
    is on the ledger with the link and its undo, and is read with a purpose (GET /v1/cases/{id}/child)."""
    async with ctx.sessions() as session:
        jurisdiction = await session.scalar(select(t.cases.c.jurisdiction).where(t.cases.c.id == case_id))
        if jurisdiction is None or not principal.can_see(jurisdiction):
            raise HTTPException(status_code=404, detail=NO_SUCH_CASE)
        found = await links_of_case(session, case_id)
    return [_case_identification(principal, entry) for entry in found]


def _case_identification(principal: Principal, entry: CaseLink) -> CaseIdentification:
    link, other = entry.link, entry.other
    seen = other if other is not None and principal.can_see(other.jurisdiction) else None
    may_undo = entry.undoable and principal.role in UNDOERS and (other is None or seen is not None)
    return CaseIdentification(
        link_id=link.id,
        kind="identity_given" if link.merged_child_id is None else "linked",
        this_case="merged" if entry.merged else "remained",
        other_case_id=seen.id if seen else None,
        other_case_number=seen.case_number if seen else None,
        reason=IdentificationReason(link.reason),
        linked_by=link.linked_by,
        linked_at=link.linked_at,
        undone_at=link.undone_at,
        undone_by=link.undone_by,
        undo_reason=LinkUndoReason(link.undo_reason) if link.undo_reason else None,
        actions=["undo"] if may_undo else [],
    )


@router.get(
    "/v1/cases/{case_id}/notes",
    **notes_route(NO_SUCH_CASE),
    summary="The notes written with intake's actions on a case (a supervisor's undo of a link), newest first",
    description="Each note's action: link_undone (about: the link, GET /v1/cases/{id}/links), kept "
    "with the case that remained.",
)
async def read_notes(
    case_id: uuid.UUID,
    purpose: Purpose,
    principal: Annotated[Principal, Depends(Identifiers)],
    ctx: Annotated[ServiceContext, Depends(service_context)],
) -> CaseNotes:
    """For those who identify children, in the case's territory: on the access ledger as a read of the
    case's notes before any is opened (a refused attempt from another territory too, answered 404)."""

    async def find(session):
        case = (
            await session.execute(
                select(t.cases.c.child_id, t.cases.c.jurisdiction).where(t.cases.c.id == case_id)
            )
        ).first()
        return territorial(principal, case_id, case.child_id, case.jurisdiction) if case else None

    return await read_notes_of_case(
        ctx, principal, purpose, case_id, table=t.notes, find=find, not_found=NO_SUCH_CASE
    )


async def _linking(decision) -> LinkOutcome | Outside:
    """The link's or undo's outcome, its refusals as HTTP answers (a refusal outside the caller's
    territory commits its ledger record first, and is answered after)."""
    try:
        return await decision
    except ChildNotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except SameChild as exc:
        problem = {"loc": ["body", "child_ref"], "msg": str(exc), "type": "value_error"}
        raise unprocessable([problem]) from None
    except Refused as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None


def _link_answer(ctx: ServiceContext, outcome: LinkOutcome | Outside) -> ChildLink:
    if isinstance(outcome, Outside):
        raise HTTPException(status_code=404, detail=str(outcome.error))
    link = outcome.link
    return ChildLink(
        link_id=link.id,
        provisional_ref=link.provisional_id,
        child_ref=link.child_id,
        case_id=link.case_id,
        case_number=outcome.case_number,
        merged_child_ref=link.merged_child_id,
        merged_case_id=link.merged_case_id,
        provisional=outcome.provisional,
        reason=IdentificationReason(link.reason),
        linked_by=link.linked_by,
        linked_at=link.linked_at,
        undone_at=link.undone_at,
        undo_reason=LinkUndoReason(link.undo_reason) if link.undo_reason else None,
        access_id=outcome.access_id,
    )
