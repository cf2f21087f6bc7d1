"""A case: its page (summary, grade and its history, the identifications that concern it, referrals,
requests, timeline, and the forms of the actions casework says the person may take on it), the child's
details and information archive read with a purpose, and each action posted on to the service that
owns it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.form_errors import field_errors
from services.console.history import actors, step_in_words
from services.console.i18n import CITY_TIME
from services.console.navigation import ACCESS, may_open
from services.console.pages import (
    PAGE_TOKEN_TTL,
    PROBLEMS,
    Console,
    ConsoleDep,
    Person,
    ServiceAnswer,
    act,
    call,
    checked_form,
    language_of,
    local_time,
    note_of,
    optional,
    render,
)
from services.console.report_form import INDICATORS, SEXES
from services.console.users import SignedIn, active_person, caseworkers_for, people_of, usernames_of
from shared.auth import CASE_SIDE, directory_audience, issue_token
from shared.contracts.vocabulary import (
    OPEN_REFERRAL_STATES,
    OPEN_SERVICE_STATES,
    SERVICE_KIND_NEED,
    AccessPurpose,
    Agency,
    CaseStatus,
    ClosureReason,
    ComplaintKind,
    ComplaintSource,
    ConsentGiver,
    ConsentWay,
    GuardianshipGap,
    IdentificationReason,
    JudgementResult,
    LawsuitStep,
    Need,
    OverrideReason,
    ReopenReason,
    ScreenOutReason,
    SharingParty,
    TransferReason,
    WithdrawalReason,
)

router = APIRouter(prefix="/cases/{case_id}")

# A service's due date the form suggests: two weeks on (the caseworker changes it).
SERVICE_DUE_IN = timedelta(days=14)

ASSIGN_REASONS = ("workload", "leave", "expertise", "conflict_of_interest")
ARCHIVE_PARTS = ("home", "school", "community", "difficulties", "risks")  # intake's ArchiveContent
# What an assistance plan's item does, as a code the catalogs give words.
PLAN_ACTIONS = (
    "material_support",
    "back_to_school",
    "counselling",
    "legal_representation",
    "guardian_arranged",
    "medical_care",
)
# Why a supervisor sets a grade the rules did not give.
OVERRIDE_REASONS = ("more_danger_than_reported", "less_danger_than_reported", "new_information")
# Why the case's side withdraws a referral (case_closed is casework's own, when a case closed).
WITHDRAWAL_REASONS = tuple(r.value for r in WithdrawalReason if r != WithdrawalReason.case_closed)
# The words each form offers, the same on every case page.
CLOSING_REASONS = [r for r in ClosureReason if r != ClosureReason.screened_out]  # screened out: by review
CHOICES = {
    "withdrawal_reasons": WITHDRAWAL_REASONS,
    "purposes": list(AccessPurpose),
    "override_reasons": OVERRIDE_REASONS,
    "plan_actions": PLAN_ACTIONS,
    "agencies": list(Agency),
    "assign_reasons": ASSIGN_REASONS,
    "closing_reasons": CLOSING_REASONS,
    "transfer_reasons": list(TransferReason),
    "screen_out_reasons": list(ScreenOutReason),
    "indicators": INDICATORS,
    "needs": list(Need),
    "open_referral_states": OPEN_REFERRAL_STATES,
    "open_service_states": OPEN_SERVICE_STATES,
    "lawsuit_steps": list(LawsuitStep),
    "guardianship_gaps": list(GuardianshipGap),
    "judgement_results": list(JudgementResult),
    "identification_reasons": list(IdentificationReason),
    "sexes": SEXES,
    "reopen_reasons": list(ReopenReason),
    "consent_givers": list(ConsentGiver),
    "consent_ways": list(ConsentWay),
    "consent_override_reasons": list(OverrideReason),
    "sharing_parties": list(SharingParty),
    "complaint_kinds": list(ComplaintKind),
    "complaint_sources": list(ComplaintSource),
}
# Where the identity given to a child nobody could name is on the form (a 422's `loc` after "body").
IDENTITY_FIELDS = {
    ("identity", "name"): "id_name",
    ("identity", "national_id"): "id_national_id",
    ("identity", "birth_date"): "id_birth_date",
    ("identity", "age_estimate"): "id_age_estimate",
    ("identity",): "id_name",
}
IDENTITY_NAMES = {loc: name for loc, name in IDENTITY_FIELDS.items() if len(loc) == 2}


@router.get("", response_class=HTMLResponse)
async def case_page(
    request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID, problem: str | None = None
) -> Response:
    """The case, and the forms of exactly the actions casework answers the person may take on it."""
    return await _case_page(request, console, person, case_id, problem=problem)


async def _case_page(
    request: Request,
    console: Console,
    person: SignedIn,
    case_id: uuid.UUID,
    *,
    problem: str | None = None,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    chosen: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Response:
    """The case page; after a refused form, each mistake beside its field and what was typed kept."""
    case = await call(console, person, "casework", "GET", f"/v1/cases/{case_id}")
    grade = await optional(call(console, person, "assessment", "GET", f"/v1/cases/{case_id}/assessment"))
    referrals = (
        await optional(
            call(console, person, "referral", "GET", "/v1/referrals", params={"case_id": str(case_id)})
        )
        or []
    )
    services = (
        await optional(
            call(console, person, "referral", "GET", "/v1/services", params={"case_id": str(case_id)})
        )
        or []
    )
    # The case's side plans its services: for the needs the plan found, from the providers serving the case.
    plans = person.principal.role in CASE_SIDE and case["state"] == CaseStatus.open and case["jurisdiction"]
    providers = (
        await optional(
            call(
                console, person, "referral", "GET", "/v1/providers", params={"serving": case["jurisdiction"]}
            )
        )
        or []
        if plans
        else []
    )
    needs = set((grade or {}).get("needs") or [])
    timeline = await optional(call(console, person, "audit", "GET", f"/v1/cases/{case_id}/timeline")) or []
    approvals = await call(
        console,
        person,
        "casework",
        "GET",
        "/v1/approvals",
        params={"case_id": str(case_id), "state": "pending"},
    )
    # Intake's summary says whether nobody could name the child yet (none of the child's details), and its
    # list the identifications that concern the case, with the undo it offers the person.
    works = "read_child" in case["actions"]
    child = await optional(call(console, person, "intake", "GET", f"/v1/cases/{case_id}")) if works else None
    links = (
        await optional(call(console, person, "intake", "GET", f"/v1/cases/{case_id}/links")) or []
        if works
        else []
    )
    # Whom the child's details may be shared with: the consents, assents and overrides on record.
    consent = (
        await optional(call(console, person, "intake", "GET", f"/v1/cases/{case_id}/consent"))
        if works
        else None
    )
    owner = case["owner"]["caseworker"]
    async with console.engine.connect() as connection:
        assigns = "assign" in case["actions"]
        caseworkers = await caseworkers_for(connection, case["jurisdiction"]) if assigns else []
        names = await usernames_of(
            connection,
            [
                owner,
                *(link[by] for link in links for by in ("linked_by", "undone_by")),
                *(r["recorded_by"] for r in (consent or {}).get("records", [])),
            ],
        )
        people = await people_of(connection, actors(timeline))
    lang = language_of(console, request)
    history = [step_in_words(lang, step, people) for step in timeline]
    now_local = datetime.now(CITY_TIME).strftime("%Y-%m-%dT%H:%M")
    return render(
        console,
        request,
        "case.html",
        status_code=status_code,
        person=person,
        case=case,
        grade=grade,
        referrals=referrals,
        services=services,
        plans_services=bool(plans and providers and needs),
        service_kinds=[kind for kind, need in SERVICE_KIND_NEED.items() if need.value in needs],
        providers=providers,
        timeline=history,
        caseworkers=caseworkers,
        owner_name=names.get(owner, owner),
        problem=problem,
        approvals=approvals,
        child=child,
        links=links,
        consent=consent,
        names=names,
        reads_access=may_open(person.principal, ACCESS),
        all_places=lang.villages(""),
        now_local=now_local,
        errors=errors or {},
        chosen=chosen or {},
        values={
            "visited_at": now_local,
            "hv_visited_at": now_local,
            "due_on": (datetime.now(CITY_TIME).date() + SERVICE_DUE_IN).isoformat(),
            "given_on": datetime.now(CITY_TIME).date().isoformat(),
            **(typed or {}),
        },
        **CHOICES,
    )


def _on_this_page(
    request: Request,
    console: Console,
    person: SignedIn,
    case_id: uuid.UUID,
    form: Any,
    fields: dict[tuple[str, ...], str],
):
    """What a service's 422 on one of the case's forms shows: the case page, each mistake beside the
    form's field it names (`fields`: the service's field → the form's), what was typed kept."""

    async def shown(detail: Any) -> Response | None:
        errors = field_errors(detail, fields)
        if not errors or "form" in errors:
            return None  # a mistake the form cannot place is said as a refusal, at the top
        # The note is posted as `note` by every form; it is kept in the textarea of the form it came from.
        typed = {
            fields.get((name,), name): str(form.get(name) or "") for name in form if name != "csrf_token"
        }
        chosen = {name: form.getlist(name) for name in form}
        return await _case_page(
            request, console, person, case_id, errors=errors, typed=typed, chosen=chosen, status_code=422
        )

    return shown


async def _act(
    request: Request,
    console: Console,
    person: SignedIn,
    case_id: uuid.UUID,
    form: Any,
    service: str,
    path: str,
    body: dict[str, Any],
    *,
    note: str,
    fields: dict[tuple[str, ...], str] | None = None,
) -> Response:
    """One of the case's actions, with the person's note (the form's field `note`: its textarea)."""
    fields = {("note",): note, **(fields or {})}
    return await act(
        console,
        person,
        case_id,
        service,
        path,
        {**body, "note": note_of(form)},
        invalid=_on_this_page(request, console, person, case_id, form, fields),
    )


# ---- reads of personal data: the purpose chosen on the page, never taken from a link ---------------
#
# Each read is a POST of the page's own form (its CSRF token, the purpose the person chose), rendered at
# once: no address ever carries a purpose, so a link (`/cases/<id>/child?purpose=…`, or one given to the
# sign-in page) cannot make a read, nor choose the purpose it is recorded with. The page's address without
# the form is its purpose form: the language switch and the back button come back to that, and a read
# again is the person's own choice again. (A signed one-time token in a GET's address would do the same
# with a secret, a store of spent tokens and a history that keeps the token; the form already has both
# checks it needs.)

READS = {  # each read's page: its title, the purpose field's label and the button, as the case page says them
    "child": ("The child's details", "Why you read them (recorded)", "Show the child's details"),
    "records": ("Records and notes", "Why you read the records (recorded)", "Show the records and notes"),
    "archive": ("Information archive", "Why you read them (recorded)", "Open the information archive"),
}


async def _purpose_form(
    request: Request,
    console: Console,
    person: SignedIn,
    case_id: uuid.UUID,
    read: str,
    *,
    status_code: int = 200,
) -> Response:
    """A read's page before the read: why the person reads (nothing is read, nor recorded, yet). The case
    is asked of casework first, so a case outside the person's territory is not found here either; an
    agency's officer, whom casework does not answer, is asked without its number (intake decides at the
    read whether the agency holds a referral of it)."""
    try:
        case = await call(console, person, "casework", "GET", f"/v1/cases/{case_id}")
    except ServiceAnswer as exc:
        if exc.status_code != 403:
            raise
        case = {"case_id": str(case_id), "case_number": None}
    title, label, button = READS[read]
    return render(
        console,
        request,
        "purpose.html",
        status_code=status_code,
        person=person,
        case=case,
        read=read,
        title=title,
        label=label,
        button=button,
        purposes=list(AccessPurpose),
        invalid=status_code == 422,
        here=f"/cases/{case_id}/{read}",
    )


async def _chosen_purpose(request: Request, person: SignedIn) -> AccessPurpose | None:
    """The purpose the person chose on the page's form (its CSRF token checked first, else 403)."""
    form = await checked_form(request, person)
    try:
        return AccessPurpose(str(form.get("purpose") or ""))
    except ValueError:
        return None


@router.get("/records", response_class=HTMLResponse)
@router.get("/child", response_class=HTMLResponse)
@router.get("/archive", response_class=HTMLResponse)
async def purpose_form(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    """Why the person reads the child's details, the case's records or the archive: asked on the page
    (whatever the address says: a purpose in a link reads nothing)."""
    return await _purpose_form(request, console, person, case_id, request.url.path.rsplit("/", 1)[1])


@router.post("/records", response_class=HTMLResponse)
async def records(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    """The case's records and the notes written with them, newest first, only once the person named
    why: each service records the read with its purpose before it shows anything."""
    purpose = await _chosen_purpose(request, person)
    if purpose is None:
        return await _purpose_form(request, console, person, case_id, "records", status_code=422)
    case = await call(console, person, "casework", "GET", f"/v1/cases/{case_id}")
    found = await case_records(console, person, case_id, purpose)
    return render(console, request, "records.html", person=person, case=case, purpose=purpose.value, **found)


async def case_records(
    console: Console, person: SignedIn, case_id: uuid.UUID, purpose: AccessPurpose
) -> dict[str, list[dict]]:
    """The case's records and notes as each service answers them, newest first, each read recorded by
    its service with the purpose first: the assessment's records, the visits, casework's notes, the
    agencies' answers, the notes of identification."""
    params = {"purpose": purpose.value}
    assessment = await optional(
        call(console, person, "assessment", "GET", f"/v1/cases/{case_id}/records", params=params)
    )
    visits = await optional(
        call(console, person, "followup", "GET", f"/v1/cases/{case_id}/visits", params=params)
    )
    notes = await call(console, person, "casework", "GET", f"/v1/cases/{case_id}/notes", params=params)
    answers = await optional(
        call(console, person, "referral", "GET", f"/v1/cases/{case_id}/referral-answers", params=params)
    )
    identification = await optional(
        call(console, person, "intake", "GET", f"/v1/cases/{case_id}/notes", params=params)
    )
    return {
        "records": assessment["records"] if assessment else [],
        "visits": visits["visits"] if visits else [],
        "notes": notes["notes"],
        "answers": answers["notes"] if answers else [],
        "identification_notes": identification["notes"] if identification else [],
    }


@router.post("/child", response_class=HTMLResponse)
async def child_details(
    request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID
) -> Response:
    """The child's personal details, only once the person named why (intake records the read
    with the purpose before it shows anything)."""
    purpose = await _chosen_purpose(request, person)
    if purpose is None:
        return await _purpose_form(request, console, person, case_id, "child", status_code=422)
    try:
        details = await call(
            console, person, "intake", "GET", f"/v1/cases/{case_id}/child", params={"purpose": purpose.value}
        )
    except ServiceAnswer as refused:
        if refused.status_code != 403:
            raise
        # No consent names the reader's kind: said in words, the refusal already on the ledger.
        return render(console, request, "child_refused.html", person=person, case_id=case_id, status_code=403)
    return render(console, request, "child.html", person=person, details=details)


async def _archive_page(
    request: Request,
    console: Console,
    person: SignedIn,
    case_id: uuid.UUID,
    purpose: AccessPurpose,
    *,
    problem: str | None = None,
) -> Response:
    case = await call(console, person, "casework", "GET", f"/v1/cases/{case_id}")
    record = await call(
        console,
        person,
        "intake",
        "GET",
        f"/v1/children/{case['child_ref']}/archive",
        params={"purpose": purpose.value},
    )
    return render(
        console,
        request,
        "archive.html",
        status_code=409 if problem == "refused" else 200,
        person=person,
        case_id=case_id,
        archive=record,
        purpose=purpose.value,
        parts=ARCHIVE_PARTS,
        problem=problem,
        here=f"/cases/{case_id}/archive",
    )


@router.post("/archive", response_class=HTMLResponse)
async def archive(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    """The child's information archive, read with a purpose (intake records it first)."""
    purpose = await _chosen_purpose(request, person)
    if purpose is None:
        return await _purpose_form(request, console, person, case_id, "archive", status_code=422)
    return await _archive_page(request, console, person, case_id, purpose)


@router.post("/archive/save", response_class=HTMLResponse)
async def save_archive(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    """The archive written, with the purpose it was read with (the form's), then read back as saved; a
    colleague's change since it was read is said in words (the version intake refuses, 409)."""
    form = await checked_form(request, person)
    try:
        purpose = AccessPurpose(str(form.get("purpose") or ""))
    except ValueError:
        return await _purpose_form(request, console, person, case_id, "archive", status_code=422)
    case = await call(console, person, "casework", "GET", f"/v1/cases/{case_id}")
    problem = None
    try:
        await call(
            console,
            person,
            "intake",
            "PUT",
            f"/v1/children/{case['child_ref']}/archive",
            json={part: str(form.get(part) or "") for part in ARCHIVE_PARTS},
            params={"purpose": purpose.value},
            headers_extra={"If-Match": str(form.get("version") or "0")},
        )
    except ServiceAnswer as exc:
        if exc.status_code not in PROBLEMS:
            raise
        problem = PROBLEMS[exc.status_code]
    return await _archive_page(request, console, person, case_id, purpose, problem=problem)


@router.post("/assignment")
async def assign(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    """The case's owner named, with the directory's word for them: the console vouches (a token of the
    issuer's, for casework only) for an active user of its own, and casework takes a caseworker of the
    case's territory alone; for anyone else it vouches for nothing and casework refuses, in words."""
    form = await checked_form(request, person)
    caseworker = str(form.get("caseworker") or "")
    async with console.engine.connect() as connection:
        named = await active_person(connection, caseworker) if caseworker else None
    vouched = (
        issue_token(
            console.settings,
            subject=named.subject,
            role=named.role,
            agency=named.agency,
            jurisdiction=named.jurisdiction,
            ttl=PAGE_TOKEN_TTL,
            audience=directory_audience(console.settings),
        )
        if named
        else None
    )
    body = {
        "caseworker": caseworker or None,
        "reason": form.get("reason") or None,
        **({"caseworker_token": vouched} if vouched else {}),
    }
    return await _act(
        request,
        console,
        person,
        case_id,
        form,
        "casework",
        f"/v1/cases/{case_id}/assignment",
        body,
        note="assign_note",
    )


@router.post("/review")
async def review(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    form = await checked_form(request, person)
    decision = form.get("decision")
    body = {
        "decision": decision,
        "reason": (form.get("screen_out_reason") or None) if decision == "screened_out" else None,
    }
    return await _act(
        request,
        console,
        person,
        case_id,
        form,
        "casework",
        f"/v1/cases/{case_id}/review",
        body,
        note="review_note",
    )


@router.post("/approvals")
async def ask(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    form = await checked_form(request, person)
    kind = form.get("kind")
    reason_field = {
        "close": "close_reason",
        "screen_out": "screen_out_request_reason",
        "transfer": "transfer_reason",
        "reopen": "reopen_reason",
    }.get(str(kind), "reason")
    body = {
        "kind": kind,
        "reason": form.get(reason_field) or None,
        **({"to_jurisdiction": form.get("to_jurisdiction") or None} if kind == "transfer" else {}),
    }
    return await _act(
        request,
        console,
        person,
        case_id,
        form,
        "casework",
        f"/v1/cases/{case_id}/approvals",
        body,
        note=f"{kind}_note",
    )


@router.post("/reopening")
async def reopen(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    """A closed case reopened with a reason (casework refuses a red one but on a supervisor's approval,
    and one whose child's reports a link moved to another case, in words)."""
    form = await checked_form(request, person)
    return await _act(
        request,
        console,
        person,
        case_id,
        form,
        "casework",
        f"/v1/cases/{case_id}/reopening",
        {"reason": form.get("reopen_reason") or None},
        note="reopen_note",
        fields={("reason",): "reopen_reason"},
    )


@router.post("/referrals/{referral_id}/withdrawal")
async def withdraw(
    request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID, referral_id: uuid.UUID
) -> Response:
    return await _withdrawal(
        request, console, person, case_id, f"/v1/referrals/{referral_id}", f"withdraw_note_{referral_id}"
    )


async def _withdrawal(
    request: Request, console: Console, person: SignedIn, case_id: uuid.UUID, what: str, note: str
) -> Response:
    """The case's side withdraws a referral or a service of the case (referral's `what`), with a reason."""
    form = await checked_form(request, person)
    reason = {"reason": form.get("reason") or None}
    return await _act(
        request, console, person, case_id, form, "referral", f"{what}/withdrawal", reason, note=note
    )


@router.post("/services")
async def plan_service(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    """A service of the plan for a provider, due by a day (referral refuses in words what the plan or the
    provider cannot carry)."""
    form = await checked_form(request, person)
    units = str(form.get("units_planned") or "").strip()
    body = {
        "kind": form.get("kind") or None,
        "provider_id": form.get("provider_id") or None,
        "due_on": form.get("due_on") or None,
        "units_planned": int(units) if units.isdigit() else (units or None),
    }
    fields = {("kind",): "kind", ("provider_id",): "provider_id", ("due_on",): "due_on"}
    fields[("units_planned",)] = "units_planned"
    return await _act(
        request,
        console,
        person,
        case_id,
        form,
        "referral",
        f"/v1/cases/{case_id}/services",
        body,
        note="service_note",
        fields=fields,
    )


@router.post("/services/{service_id}/withdrawal")
async def withdraw_service(
    request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID, service_id: uuid.UUID
) -> Response:
    return await _withdrawal(
        request, console, person, case_id, f"/v1/services/{service_id}", f"withdraw_service_note_{service_id}"
    )


@router.post("/services/{service_id}/steps")
async def lawsuit_step(
    request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID, service_id: uuid.UUID
) -> Response:
    """A guardianship-transfer lawsuit's next step, its day (and the judgement's result) and a note."""
    form = await checked_form(request, person)
    body = {
        "step": form.get("step") or None,
        "on": form.get("on") or None,
        "result": form.get("result") or None,
    }
    fields = {("on",): "step_on", ("result",): "step_on"}
    return await _act(
        request,
        console,
        person,
        case_id,
        form,
        "referral",
        f"/v1/services/{service_id}/steps",
        body,
        note=f"step_note_{service_id}",
        fields=fields,
    )


@router.post("/services/{service_id}/feedback")
async def service_feedback(
    request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID, service_id: uuid.UUID
) -> Response:
    """The family's satisfaction with a delivered service, as the caseworker heard it."""
    form = await checked_form(request, person)
    score = str(form.get("satisfaction") or "")
    body = {
        "satisfaction": int(score) if score.isdigit() else None,
        "given_by": form.get("given_by") or "family",
    }
    return await act(console, person, case_id, "referral", f"/v1/services/{service_id}/feedback", body)


@router.post("/services/{service_id}/complaints")
async def service_complaint(
    request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID, service_id: uuid.UUID
) -> Response:
    """A complaint about a service: of what, by whom, the day it was made, and what was said."""
    form = await checked_form(request, person)
    body = {
        "kind": form.get("kind") or None,
        "made_by": form.get("made_by") or None,
        "received_on": form.get("received_on") or None,
    }
    return await _act(
        request,
        console,
        person,
        case_id,
        form,
        "referral",
        f"/v1/services/{service_id}/complaints",
        body,
        note=f"complaint_note_{service_id}",
    )


# ---- consent and assent to share the child's details (intake keeps them) ---------------------------


@router.post("/consents")
async def give_consent(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    """The guardian's or the child's consent (an assent under 15) to the kinds of agency or provider."""
    form = await checked_form(request, person)
    body = {
        "given_by": form.get("given_by") or None,
        "way": form.get("way") or None,
        "parties": form.getlist("parties"),
        "given_on": form.get("given_on") or None,
    }
    fields = {("given_by",): "given_by", ("way",): "way", ("parties",): "parties", ("given_on",): "given_on"}
    return await _act(
        request,
        console,
        person,
        case_id,
        form,
        "intake",
        f"/v1/cases/{case_id}/consents",
        body,
        note="consent_note",
        fields=fields,
    )


@router.post("/consent-overrides")
async def override_consent(
    request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID
) -> Response:
    """A supervisor shares without consent, with a reason in law or the child's interest, and why in words."""
    form = await checked_form(request, person)
    body = {
        "reason": form.get("override_consent_reason") or None,
        "parties": form.getlist("override_parties"),
    }
    fields = {("reason",): "override_consent_reason", ("parties",): "override_parties"}
    return await _act(
        request,
        console,
        person,
        case_id,
        form,
        "intake",
        f"/v1/cases/{case_id}/consent-overrides",
        body,
        note="override_consent_note",
        fields=fields,
    )


@router.post("/consents/{consent_id}/withdrawal")
async def withdraw_consent(
    request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID, consent_id: uuid.UUID
) -> Response:
    """The family withdraws a consent (or a supervisor an override): every agency it named is told."""
    form = await checked_form(request, person)
    return await _act(
        request,
        console,
        person,
        case_id,
        form,
        "intake",
        f"/v1/consents/{consent_id}/withdrawal",
        {},
        note=f"withdraw_consent_note_{consent_id}",
    )


@router.post("/visits")
async def visit(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    form = await checked_form(request, person)
    # A time the form could not read goes as none: the service's 422 comes back as words, like any.
    body = {
        "visited_at": local_time(form.get("visited_at")),
        "indicators": form.getlist("indicators"),
        "needs_met": form.getlist("needs_met"),
        "needs_unmet": form.getlist("needs_unmet"),
    }
    return await _act(
        request,
        console,
        person,
        case_id,
        form,
        "followup",
        f"/v1/cases/{case_id}/visits",
        body,
        note="visit_note",
        fields={("visited_at",): "visited_at"},
    )


GUARDIAN_TICKS = ("present", "able", "willing")


def guardian_of(form: Any) -> dict[str, Any]:
    """The guardian's situation as the home visit's form says it, when it says any: three ticks and, when
    one is missing, why (assessment refuses a reason with all three ticked, or none without). Nothing
    ticked and no reason is a visit that did not record the guardian."""
    ticks = {name: form.get(f"hv_guardian_{name}") == "on" for name in GUARDIAN_TICKS}
    reason = form.get("hv_guardian_reason") or None
    return {"guardian": {**ticks, "reason": reason}} if any(ticks.values()) or reason else {}


@router.post("/home-visits")
async def home_visit(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    form = await checked_form(request, person)
    body = {
        "visited_at": local_time(form.get("hv_visited_at")),
        "indicators": form.getlist("hv_indicators"),
        "needs": form.getlist("hv_needs"),
        **guardian_of(form),
    }
    return await _act(
        request,
        console,
        person,
        case_id,
        form,
        "assessment",
        f"/v1/cases/{case_id}/home-visits",
        body,
        note="hv_note",
        fields={("visited_at",): "hv_visited_at", ("guardian",): "hv_guardian_reason"},
    )


@router.post("/assessment-reports")
async def assessment_report(
    request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID
) -> Response:
    form = await checked_form(request, person)
    body = {"indicators": form.getlist("ar_indicators"), "needs": form.getlist("ar_needs")}
    return await _act(
        request,
        console,
        person,
        case_id,
        form,
        "assessment",
        f"/v1/cases/{case_id}/assessment-reports",
        body,
        note="ar_note",
    )


@router.post("/plans")
async def plan(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    form = await checked_form(request, person)
    body = {
        "items": [
            {
                "need": form.get("plan_need") or None,
                "agencies": form.getlist("plan_agencies"),
                "action": form.get("plan_action") or None,
            }
        ]
    }
    return await _act(
        request,
        console,
        person,
        case_id,
        form,
        "assessment",
        f"/v1/cases/{case_id}/plans",
        body,
        note="plan_note",
    )


@router.post("/override")
async def override(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    form = await checked_form(request, person)
    body = {"risk_level": form.get("risk_level") or None, "reason": form.get("override_reason") or None}
    return await _act(
        request,
        console,
        person,
        case_id,
        form,
        "assessment",
        f"/v1/cases/{case_id}/override",
        body,
        note="override_note",
    )


@router.post("/identification")
async def identify(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    """A child nobody could name, identified: linked to the known child the child search finds by its ID
    number, or given its identity. Intake decides which case remains and refuses what does not fit."""
    form = await checked_form(request, person)
    summary = await call(console, person, "intake", "GET", f"/v1/cases/{case_id}")
    known = form.get("way") == "known"
    reason_field = "id_reason" if known else "identity_reason"  # each of the two forms has its own
    path, reason = f"/v1/children/{summary['child_ref']}/identification", form.get(reason_field) or None
    if known:
        try:
            found = await call(
                console,
                person,
                "intake",
                "POST",
                "/v1/children/search",
                json={
                    "purpose": "record_correction",
                    "national_id": str(form.get("known_national_id") or "").strip(),
                },
            )
        except ServiceAnswer as exc:
            if exc.status_code != 422:
                raise
            found = {"matches": []}
        if len(found["matches"]) != 1:
            return RedirectResponse(f"/cases/{case_id}?problem=no_match", status_code=303)
        body = {"reason": reason, "child_ref": found["matches"][0]["child_ref"]}
    else:
        typed = {part: str(form.get(name) or "").strip() for (_, part), name in IDENTITY_NAMES.items()}
        age = typed.get("age_estimate", "")
        identity = {**typed, "age_estimate": int(age) if age.isdigit() else age}
        given = {part: value for part, value in identity.items() if value != ""}
        body = {"reason": reason, "identity": given}
    fields = {**IDENTITY_FIELDS, ("reason",): reason_field}
    return await act(
        console,
        person,
        case_id,
        "intake",
        path,
        body,
        invalid=_on_this_page(request, console, person, case_id, form, fields),
    )
