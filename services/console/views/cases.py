"""A case: its page (summary, grade and its history, referrals, requests, timeline, and the forms of
the actions casework says the person may take on it), the child's details and information archive
read with a purpose, and each action posted on to the service that owns it."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.history import actors, step_in_words
from services.console.i18n import CITY_TIME
from services.console.navigation import ACCESS, may_open
from services.console.pages import (
    ConsoleDep,
    Person,
    act,
    call,
    checked_form,
    language_of,
    local_time,
    optional,
    render,
)
from services.console.report_form import INDICATORS
from services.console.users import caseworkers_for, people_of, usernames_of
from shared.contracts.vocabulary import (
    OPEN_REFERRAL_STATES,
    AccessPurpose,
    Agency,
    ClosureReason,
    Need,
    ScreenOutReason,
    TransferReason,
    WithdrawalReason,
)

router = APIRouter(prefix="/cases/{case_id}")

ASSIGN_REASONS = ("workload", "leave", "expertise", "conflict_of_interest")
ARCHIVE_PARTS = ("home", "school", "community", "difficulties", "risks")  # intake's ArchiveContent
# What an assistance plan's item does, as a code the catalogs give words.
PLAN_ACTIONS = ("material_support", "back_to_school", "counselling", "legal_representation",
                "guardian_arranged", "medical_care")
# Why a supervisor sets a grade the rules did not give.
OVERRIDE_REASONS = ("more_danger_than_reported", "less_danger_than_reported", "new_information")
# Why the case's side withdraws a referral (case_closed is casework's own, when a case closed).
WITHDRAWAL_REASONS = tuple(r.value for r in WithdrawalReason if r != WithdrawalReason.case_closed)
# The words each form offers, the same on every case page.
CLOSING_REASONS = [r for r in ClosureReason if r != ClosureReason.screened_out]  # screened out: by review
CHOICES = dict(withdrawal_reasons=WITHDRAWAL_REASONS, purposes=list(AccessPurpose),
               override_reasons=OVERRIDE_REASONS, plan_actions=PLAN_ACTIONS, agencies=list(Agency),
               assign_reasons=ASSIGN_REASONS, closing_reasons=CLOSING_REASONS,
               transfer_reasons=list(TransferReason), screen_out_reasons=list(ScreenOutReason),
               indicators=INDICATORS, needs=list(Need), open_referral_states=OPEN_REFERRAL_STATES)


@router.get("", response_class=HTMLResponse)
async def case_page(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID,
                    problem: str | None = None) -> Response:
    """The case, and the forms of exactly the actions casework answers the person may take on it."""
    case = await call(console, person, "casework", "GET", f"/v1/cases/{case_id}")
    grade = await optional(call(console, person, "assessment", "GET", f"/v1/cases/{case_id}/assessment"))
    referrals = await optional(call(console, person, "referral", "GET", "/v1/referrals",
                                    params={"case_id": str(case_id)})) or []
    timeline = await optional(call(console, person, "audit", "GET", f"/v1/cases/{case_id}/timeline")) or []
    approvals = await call(console, person, "casework", "GET", "/v1/approvals",
                           params={"case_id": str(case_id), "state": "pending"})
    owner = case["owner"]["caseworker"]
    async with console.engine.connect() as connection:
        assigns = "assign" in case["actions"]
        caseworkers = await caseworkers_for(connection, case["jurisdiction"]) if assigns else []
        owner_name = (await usernames_of(connection, [owner])).get(owner, owner)
        people = await people_of(connection, actors(timeline))
    lang = language_of(console, request)
    history = [step_in_words(lang, step, people) for step in timeline]
    return render(console, request, "case.html", person=person, case=case, grade=grade, referrals=referrals,
                  timeline=history, caseworkers=caseworkers, owner_name=owner_name, problem=problem,
                  reads_access=may_open(person.principal, ACCESS),
                  approvals=approvals, all_places=lang.villages(""),
                  now_local=datetime.now(CITY_TIME).strftime("%Y-%m-%dT%H:%M"), **CHOICES)


@router.get("/child", response_class=HTMLResponse)
async def child_details(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID,
                        purpose: AccessPurpose) -> Response:
    """The child's personal details, only once the person named why (intake records the read
    with the purpose before it shows anything)."""
    details = await call(console, person, "intake", "GET", f"/v1/cases/{case_id}/child",
                         params={"purpose": purpose.value})
    return render(console, request, "child.html", person=person, details=details)


@router.get("/archive", response_class=HTMLResponse)
async def archive(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID,
                  purpose: AccessPurpose, problem: str | None = None) -> Response:
    """The child's information archive, read with a purpose (intake records it first)."""
    case = await call(console, person, "casework", "GET", f"/v1/cases/{case_id}")
    record = await call(console, person, "intake", "GET", f"/v1/children/{case['child_ref']}/archive",
                        params={"purpose": purpose.value})
    return render(console, request, "archive.html", person=person, case_id=case_id, archive=record,
                  purpose=purpose.value, parts=ARCHIVE_PARTS, problem=problem)


@router.post("/archive")
async def save_archive(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID,
                       purpose: AccessPurpose) -> Response:
    form = await checked_form(request, person)
    case = await call(console, person, "casework", "GET", f"/v1/cases/{case_id}")
    return await act(console, person, f"/cases/{case_id}/archive?purpose={purpose.value}", "intake",
                     f"/v1/children/{case['child_ref']}/archive",
                     {part: str(form.get(part) or "") for part in ARCHIVE_PARTS}, method="PUT",
                     params={"purpose": purpose.value},
                     headers_extra={"If-Match": str(form.get("version") or "0")})


@router.post("/assignment")
async def assign(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    form = await checked_form(request, person)
    body = {"caseworker": form.get("caseworker") or None, "reason": form.get("reason") or None}
    return await act(console, person, case_id, "casework", f"/v1/cases/{case_id}/assignment", body)


@router.post("/review")
async def review(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    form = await checked_form(request, person)
    decision = form.get("decision")
    body = {"decision": decision,
            "reason": (form.get("screen_out_reason") or None) if decision == "screened_out" else None}
    return await act(console, person, case_id, "casework", f"/v1/cases/{case_id}/review", body)


@router.post("/approvals")
async def ask(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    form = await checked_form(request, person)
    kind = form.get("kind")
    reason_field = {"close": "close_reason", "screen_out": "screen_out_request_reason",
                    "transfer": "transfer_reason"}.get(str(kind), "reason")
    body = {"kind": kind, "reason": form.get(reason_field) or None,
            **({"to_jurisdiction": form.get("to_jurisdiction") or None} if kind == "transfer" else {})}
    return await act(console, person, case_id, "casework", f"/v1/cases/{case_id}/approvals", body)


@router.post("/referrals/{referral_id}/withdrawal")
async def withdraw(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID,
                   referral_id: uuid.UUID) -> Response:
    form = await checked_form(request, person)
    return await act(console, person, case_id, "referral", f"/v1/referrals/{referral_id}/withdrawal",
                     {"reason": form.get("reason") or None})


@router.post("/visits")
async def visit(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    form = await checked_form(request, person)
    # A time the form could not read goes as none: the service's 422 comes back as words, like any.
    body = {"visited_at": local_time(form.get("visited_at")), "indicators": form.getlist("indicators"),
            "needs_met": form.getlist("needs_met"), "needs_unmet": form.getlist("needs_unmet")}
    return await act(console, person, case_id, "followup", f"/v1/cases/{case_id}/visits", body)


@router.post("/home-visits")
async def home_visit(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    form = await checked_form(request, person)
    body = {"visited_at": local_time(form.get("hv_visited_at")), "indicators": form.getlist("hv_indicators"),
            "needs": form.getlist("hv_needs")}
    return await act(console, person, case_id, "assessment", f"/v1/cases/{case_id}/home-visits", body)


@router.post("/assessment-reports")
async def assessment_report(request: Request, console: ConsoleDep, person: Person,
                            case_id: uuid.UUID) -> Response:
    form = await checked_form(request, person)
    body = {"indicators": form.getlist("ar_indicators"), "needs": form.getlist("ar_needs")}
    return await act(console, person, case_id, "assessment", f"/v1/cases/{case_id}/assessment-reports", body)


@router.post("/plans")
async def plan(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    form = await checked_form(request, person)
    body = {"items": [{"need": form.get("plan_need") or None, "agencies": form.getlist("plan_agencies"),
                       "action": form.get("plan_action") or None}]}
    return await act(console, person, case_id, "assessment", f"/v1/cases/{case_id}/plans", body)


@router.post("/override")
async def override(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    form = await checked_form(request, person)
    body = {"risk_level": form.get("risk_level") or None, "reason": form.get("override_reason") or None}
    return await act(console, person, case_id, "assessment", f"/v1/cases/{case_id}/override", body)
