"""Reporting a child: the report form (the hotline contract as fields; intake's refusals beside
each field), the person's own reports and where each stands, and the search for a child before a
report, or for the cases a reporter's phone reported (with its purpose, on the ledger)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.form_errors import field_errors as errors_at
from services.console.navigation import REPORT, SEARCH, may_open
from services.console.pages import (
    Console,
    ConsoleDep,
    Person,
    ServiceAnswer,
    call,
    checked_form,
    language_of,
    render,
    require_page,
)
from services.console.report_form import (
    CATEGORIES,
    INDICATORS,
    REPORTER_ROLES,
    SEXES,
    TEXT_FIELDS,
    field_errors,
    report_of,
)
from services.console.users import SignedIn
from shared.contracts.vocabulary import AccessPurpose, Channel

router = APIRouter()
MY_REPORTS = 20  # the latest, under the form
REPORT_FIELDS = (*TEXT_FIELDS, "reporter_anonymous", "submission_id")
SEARCH_FIELDS = (
    "purpose",
    "child_national_id",
    "child_name",
    "child_birth_date",
    "jurisdiction",
    "reporter_phone",
)
# What the header's search box fills in (views/board.py).
PREFILLED = ("child_national_id", "child_name", "reporter_phone")
# Intake's 422 about the search, field by field (form_errors.py).
SEARCH_FIELD_OF_LOC = {
    ("purpose",): "purpose",
    ("national_id",): "child_national_id",
    ("name",): "child_name",
    ("birth_date",): "child_birth_date",
    ("jurisdiction",): "jurisdiction",
    ("reporter_phone",): "reporter_phone",
}


@router.get(REPORT.path, response_class=HTMLResponse)
async def report_form(request: Request, console: ConsoleDep, person: Person) -> Response:
    require_page(person, REPORT)
    return await _report_page(console, request, person, values={"submission_id": str(uuid.uuid4())})


@router.post(REPORT.path, response_class=HTMLResponse)
async def submit_report(request: Request, console: ConsoleDep, person: Person) -> Response:
    require_page(person, REPORT)
    form = await checked_form(request, person)
    values = {name: str(form.get(name) or "") for name in REPORT_FIELDS}
    categories, indicators = form.getlist("categories"), form.getlist("indicators")
    report = report_of(values, categories=categories, indicators=indicators)
    try:
        receipt = await call(
            console,
            person,
            "intake",
            "POST",
            "/v1/reports",
            json=report,
            headers_extra={"Idempotency-Key": values["submission_id"]},
        )
    except ServiceAnswer as exc:
        if exc.status_code not in (403, 422):
            raise
        errors = field_errors(exc.detail) if exc.status_code == 422 else {"jurisdiction": "outside_territory"}
        return await _report_page(
            console,
            request,
            person,
            values=values,
            errors=errors,
            categories=categories,
            indicators=indicators,
            status_code=422,
        )
    return render(
        console,
        request,
        "report_received.html",
        person=person,
        receipt=receipt,
        case_number=receipt.get("case_number") or await _case_number_of(console, person, receipt),
    )


@router.get(SEARCH.path, response_class=HTMLResponse)
async def search_form(request: Request, console: ConsoleDep, person: Person) -> Response:
    """The search, filled in with what the header's search box was given (an ID number, a name or a
    reporter's phone)."""
    require_page(person, SEARCH)
    given = {name: request.query_params.get(name, "")[:200] for name in PREFILLED}
    values = {name: value for name, value in given.items() if value}
    return _search_page(console, request, person, values=values)


@router.post(SEARCH.path, response_class=HTMLResponse)
async def search(request: Request, console: ConsoleDep, person: Person) -> Response:
    require_page(person, SEARCH)
    form = await checked_form(request, person)
    values = {name: str(form.get(name) or "").strip() for name in SEARCH_FIELDS}
    body = {
        "purpose": values["purpose"] or None,
        "national_id": values["child_national_id"] or None,
        "name": values["child_name"] or None,
        "birth_date": values["child_birth_date"] or None,
        "jurisdiction": values["jurisdiction"] or None,
        "reporter_phone": values["reporter_phone"] or None,
    }
    try:
        found = await call(console, person, "intake", "POST", "/v1/children/search", json=body)
    except ServiceAnswer as exc:
        if exc.status_code != 422:
            raise
        errors = errors_at(exc.detail, SEARCH_FIELD_OF_LOC)
        if "form" in errors:  # nothing to search by: the first way is asked for
            errors = {"child_national_id": "missing"}
        return _search_page(console, request, person, values=values, errors=errors, status_code=422)
    return _search_page(
        console,
        request,
        person,
        values=values,
        searched=True,
        matches=found["matches"],
        by_phone=body["reporter_phone"] is not None,
    )


async def _case_number_of(console: Console, person: SignedIn, receipt: dict) -> str | None:
    """The number of the case a report opened or joined, as the person's own list of reports tells it
    (the hotline's receipt names no case; a reporting institution's list names none either)."""
    try:
        mine = await call(
            console,
            person,
            "intake",
            "GET",
            "/v1/reports",
            params={"submitted_by": "me", "limit": MY_REPORTS},
        )
    except ServiceAnswer:
        return None
    return next((r["case_number"] for r in mine if r["report_id"] == receipt["report_id"]), None)


async def _report_page(
    console: Console,
    request: Request,
    person: SignedIn,
    *,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    categories: list[str] = (),
    indicators: list[str] = (),
    status_code: int = 200,
) -> Response:
    """The form (what was typed kept, each refusal beside its field) and, under it, the person's
    latest reports, each with its case's number and state: the form is shown even when intake
    cannot list them just then, for a report must always be taken."""
    try:
        mine = await call(
            console,
            person,
            "intake",
            "GET",
            "/v1/reports",
            params={"submitted_by": "me", "limit": MY_REPORTS},
        )
    except ServiceAnswer:
        mine = None
    return render(
        console,
        request,
        "report.html",
        status_code=status_code,
        person=person,
        values=values,
        errors=errors or {},
        submission_id=values.get("submission_id", ""),
        channels=list(Channel),
        reporter_roles=list(REPORTER_ROLES),
        sexes=SEXES,
        categories=CATEGORIES,
        indicators=INDICATORS,
        chosen_categories=set(categories),
        chosen_indicators=set(indicators),
        places=language_of(console, request).villages(person.principal.jurisdiction),
        can_search=may_open(person.principal, SEARCH),
        my_reports=mine,
    )


def _search_page(
    console: Console,
    request: Request,
    person: SignedIn,
    *,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    searched: bool = False,
    matches: list | None = None,
    by_phone: bool = False,
    status_code: int = 200,
) -> Response:
    places = language_of(console, request).villages(person.principal.jurisdiction)
    return render(
        console,
        request,
        "search.html",
        status_code=status_code,
        person=person,
        values=values,
        errors=errors or {},
        purposes=list(AccessPurpose),
        searched=searched,
        matches=matches or [],
        by_phone=by_phone,
        places=places,
    )
