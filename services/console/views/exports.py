"""Lists to take away (issue 24): the board, an agency's inbox and the services escalated to a supervisor
as CSV or XLSX — every page of what the person's filters select, up to a cap — with the columns the page
shows that carry no personal data; and the children's details of the board's cases, asked of intake in one
request with a purpose (each child's export on its access ledger), handed out only in a 7z archive
under a password the person types twice and nobody keeps."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from services.audit.quality import RULES
from services.console.case_file import Made, case_file_pdf
from services.console.exports import (
    EXPORT_PURPOSES,
    MAX_CHILDREN,
    MAX_ROWS,
    MIN_PASSWORD,
    SEVEN_ZIP,
    About,
    about_table,
    board_table,
    children_table,
    escalated_services_table,
    inbox_table,
    password_problem,
    quality_table,
    sealed_archive,
)
from services.console.history import actors, step_in_words
from services.console.navigation import (
    BOARD,
    CASE_FILE,
    CHILDREN_EXPORT,
    DATA_QUALITY,
    ESCALATED_SERVICES,
    INBOX,
)
from services.console.pages import (
    Console,
    ConsoleDep,
    Person,
    ServiceAnswer,
    call,
    call_counted,
    checked_form,
    language_of,
    now,
    optional,
    render,
    require_page,
)
from services.console.spreadsheets import CSV, XLSX, Table, table_csv, tables_xlsx
from services.console.users import SignedIn, people_of, usernames_of
from services.console.views.bulletins import CODE, own_node, territory_nodes
from services.console.views.cases import case_records
from services.console.views.inbox import InboxFiltersDep
from services.console.worklist import BadFilter, BoardFilters, board_address, filters_of
from shared.contracts.vocabulary import AccessPurpose

router = APIRouter()
KINDS = ("csv", "xlsx")
CASES_A_CALL = 200  # casework's largest page
ITEMS_A_CALL = 500  # the referral service's largest page


def _attachment(body: bytes, media_type: str, file_name: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{file_name}"', "Cache-Control": "no-store"},
    )


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%d-%H%M")


def _download(
    console: Console, request: Request, person: SignedIn, kind: str, name: str, table: Table, found: int
) -> Response:
    """The table as the file asked for; an XLSX says besides who made it, when, and whether it was cut."""
    made_at = now()
    file_name = f"{name}-{_stamp(made_at)}.{kind}"
    if kind == "csv":
        return _attachment(table_csv(table), CSV, file_name)
    lang = language_of(console, request)
    about = About(made_by=person.account.username, made_at=made_at, rows=len(table.rows), found=found)
    return _attachment(tables_xlsx([table, about_table(lang, about)]), XLSX, file_name)


async def board_cases(
    console: Console, person: SignedIn, filters: BoardFilters, cap: int
) -> tuple[list, int]:
    """Every case the board's filters select, page after page, up to `cap`; and how many they select."""
    params = {**filters.query(), "limit": min(CASES_A_CALL, cap)}
    first = await call(console, person, "casework", "GET", "/v1/cases", params={**params, "totals": "true"})
    cases, after = list(first["cases"]), first["next"]
    while after and len(cases) < cap:
        params["limit"] = min(CASES_A_CALL, cap - len(cases))
        found = await call(console, person, "casework", "GET", "/v1/cases", params={**params, "after": after})
        cases += found["cases"]
        after = found["next"]
    return cases, first["total"]


async def _listed(
    console: Console, person: SignedIn, service: str, path: str, query: dict
) -> tuple[list, int]:
    """Every item of a service's counted list, up to MAX_ROWS; and how many it holds."""
    items: list[Any] = []
    total = 0
    while True:
        size = min(ITEMS_A_CALL, MAX_ROWS - len(items))
        page, total = await call_counted(
            console, person, service, path, params={**query, "offset": len(items), "limit": size}
        )
        items += page
        if not page or len(items) >= min(total, MAX_ROWS):
            return items, total


@router.get(BOARD.path + "/export.{kind}")
async def board_export(request: Request, console: ConsoleDep, person: Person, kind: str) -> Response:
    """The board's cases as the filters select them; an address with a filter that is not one goes back
    to the board, which says what was wrong."""
    require_page(person, BOARD)
    if kind not in KINDS:
        return Response(status_code=404)
    filters, _, refused = board_address(request.query_params, None, ())
    if refused:
        return RedirectResponse(f"{BOARD.path}?{request.url.query}", status_code=303)
    cases, found = await board_cases(console, person, filters, MAX_ROWS)
    async with console.engine.connect() as connection:
        names = await usernames_of(connection, (case["owner"]["caseworker"] for case in cases))
    table = board_table(language_of(console, request), cases, names)
    return _download(console, request, person, kind, "cases", table, found)


@router.get(INBOX.path + "/export.{kind}")
async def inbox_export(
    request: Request, console: ConsoleDep, person: Person, kind: str, chosen: InboxFiltersDep
) -> Response:
    """The agency's referrals as the inbox's filters select them."""
    require_page(person, INBOX)
    if kind not in KINDS:
        return Response(status_code=404)
    try:
        referrals, found = await _listed(console, person, "referral", "/v1/referrals", chosen.query())
    except ServiceAnswer as exc:
        if exc.status_code != 422:
            raise
        return RedirectResponse(f"{INBOX.path}?{request.url.query}", status_code=303)
    table = inbox_table(language_of(console, request), referrals)
    return _download(console, request, person, kind, "referrals", table, found)


@router.get(ESCALATED_SERVICES.path + "/export.{kind}")
async def escalated_services_export(
    request: Request, console: ConsoleDep, person: Person, kind: str
) -> Response:
    """The services escalated to the supervisor's level, as the page lists them."""
    require_page(person, ESCALATED_SERVICES)
    if kind not in KINDS:
        return Response(status_code=404)
    query = {"held_here": "true", "waiting": "true"}
    services, found = await _listed(console, person, "referral", "/v1/services", query)
    table = escalated_services_table(language_of(console, request), services)
    return _download(console, request, person, kind, "overdue-services", table, found)


@router.get(DATA_QUALITY.path + "/export.{kind}")
async def quality_export(
    request: Request,
    console: ConsoleDep,
    person: Person,
    kind: str,
    territory: str | None = Query(None, pattern=CODE),
    rule: str | None = Query(None, pattern="^(" + "|".join(RULES) + ")?$"),
) -> Response:
    """The cases to correct of a node of the person's territory (one rule or all), as the page lists them."""
    require_page(person, DATA_QUALITY)
    if kind not in KINDS:
        return Response(status_code=404)
    chosen = territory if territory in territory_nodes(console, person) else own_node(console, person)
    if chosen is None:
        return Response(status_code=404)
    query = {"rule": rule} if rule else {}
    cases, found = await _listed(console, person, "audit", f"/v1/quality/{chosen}", query)
    table = quality_table(language_of(console, request), cases)
    return _download(console, request, person, kind, f"to-correct-{chosen}", table, found)


def _sealing(form) -> tuple[str, str, dict[str, str]]:
    """What an export of personal data asks on its form: why (a purpose) and the archive's password typed
    twice; with each mistake by its field."""
    purpose = str(form.get("purpose") or "")
    password, again = str(form.get("password") or ""), str(form.get("password_again") or "")
    errors = {}
    if purpose not in EXPORT_PURPOSES:
        errors["purpose"] = "missing" if not purpose else "choice"
    if problem := password_problem(password, again):
        errors["password_again" if problem == "password_differs" else "password"] = problem
    return purpose, password, errors


def _sealing_form(
    console: Console,
    request: Request,
    person: SignedIn,
    template: str,
    *,
    errors: dict[str, str] | None = None,
    purpose: str = "",
    problem: str | None = None,
    status_code: int = 200,
    **about: Any,
) -> Response:
    """An export's form: what goes (`about`, the page's), why, and the password twice (never filled in
    again)."""
    return render(
        console,
        request,
        template,
        status_code=status_code,
        person=person,
        purposes=EXPORT_PURPOSES,
        values={"purpose": purpose},
        errors=errors or {},
        problem=problem,
        min_password=MIN_PASSWORD,
        **about,
    )


def _children_form(
    console: Console, request: Request, person: SignedIn, filters: BoardFilters, total: int, **form: Any
) -> Response:
    """The children's export: how many cases go."""
    return _sealing_form(
        console,
        request,
        person,
        "children_export.html",
        filters=filters.query(),
        board=filters.link(),
        total=total,
        kept=min(total, MAX_CHILDREN),
        **form,
    )


async def _exported(console: Console, person: SignedIn, case_ids: list[str], purpose: str) -> dict | None:
    """Intake's export of the cases' children with the purpose (each on the access ledger first); None
    when it refuses the person."""
    try:
        return await call(
            console,
            person,
            "intake",
            "POST",
            "/v1/children/export",
            json={"case_ids": case_ids, "purpose": purpose},
        )
    except ServiceAnswer as exc:
        if exc.status_code != 403:
            raise
        return None


@router.get(CHILDREN_EXPORT.path)
async def children_export_form(request: Request, console: ConsoleDep, person: Person) -> Response:
    """What the export will hold (the board's filters, carried along), before anything is read."""
    require_page(person, CHILDREN_EXPORT)
    filters, _, refused = board_address(request.query_params, None, ())
    if refused:
        return RedirectResponse(f"{BOARD.path}?{request.url.query}", status_code=303)
    found = await call(
        console,
        person,
        "casework",
        "GET",
        "/v1/cases",
        params={**filters.query(), "totals": "true", "limit": 1},
    )
    return _children_form(console, request, person, filters, found["total"])


@router.post(CHILDREN_EXPORT.path)
async def children_export(request: Request, console: ConsoleDep, person: Person) -> Response:
    """The children's details of the cases the filters select, in an archive under the typed password.
    Intake records each child's export (with the purpose) before it answers; the cases it leaves out
    (not the person's to read) are counted in the file, never named. The password is neither kept nor
    written anywhere: it only seals the archive."""
    require_page(person, CHILDREN_EXPORT)
    form = await checked_form(request, person)
    try:
        filters = filters_of(form)
    except BadFilter:
        return RedirectResponse(BOARD.path, status_code=303)
    purpose, password, errors = _sealing(form)
    cases, total = await board_cases(console, person, filters, MAX_CHILDREN)
    if errors or not cases:
        return _children_form(
            console,
            request,
            person,
            filters,
            total,
            errors=errors,
            purpose=purpose,
            problem=None if cases else "no_cases",
            status_code=422,
        )
    export = await _exported(console, person, [case["case_id"] for case in cases], purpose)
    if export is None:
        return _children_form(
            console, request, person, filters, total, purpose=purpose, problem="not_yours", status_code=403
        )
    lang = language_of(console, request)
    made_at = now()
    about = About(
        made_by=person.account.username,
        made_at=made_at,
        rows=len(export["children"]),
        found=total,
        purpose=purpose,
        left_out=export["left_out"],
    )
    name = f"children-{_stamp(made_at)}"
    book = tables_xlsx([children_table(lang, export), about_table(lang, about)])
    return _attachment(sealed_archive([(f"{name}.xlsx", book)], password), SEVEN_ZIP, f"{name}.7z")


@router.get(CASE_FILE.path)
async def case_file_form(
    request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID
) -> Response:
    """What the file will hold, before anything of the child is read."""
    require_page(person, CASE_FILE)
    case = await call(console, person, "casework", "GET", f"/v1/cases/{case_id}")
    return _sealing_form(console, request, person, "case_file.html", case=case)


@router.post(CASE_FILE.path)
async def case_file(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
    """The case's file as a PDF in an archive under the typed password: the child's identity exported (on
    the access ledger as an export with the purpose), the reports, records and notes read with it, and
    the timeline. The password is neither kept nor written anywhere: it only seals the archive."""
    require_page(person, CASE_FILE)
    form = await checked_form(request, person)
    case = await call(console, person, "casework", "GET", f"/v1/cases/{case_id}")
    purpose, password, errors = _sealing(form)
    if errors:
        return _sealing_form(
            console,
            request,
            person,
            "case_file.html",
            case=case,
            errors=errors,
            purpose=purpose,
            status_code=422,
        )
    export = await _exported(console, person, [str(case_id)], purpose)
    # The reports' narratives, read with the same purpose (a read on the ledger beside the export).
    child = (
        await optional(
            call(console, person, "intake", "GET", f"/v1/cases/{case_id}/child", params={"purpose": purpose})
        )
        if export and export["children"]
        else None
    )
    if not (export and export["children"] and child):
        # No consent names the reader's kind: refused, and on the ledger already.
        return _sealing_form(
            console,
            request,
            person,
            "case_file.html",
            case=case,
            purpose=purpose,
            problem="not_yours",
            status_code=403,
        )
    found = await case_records(console, person, case_id, AccessPurpose(purpose))
    timeline = await call(console, person, "audit", "GET", f"/v1/cases/{case_id}/timeline")
    async with console.engine.connect() as connection:
        people = await people_of(connection, actors(timeline))
    lang = language_of(console, request)
    made = Made(by=person.account.username, at=now(), purpose=purpose)
    child = {**child, "identity": export["children"][0]["identity"]}
    history = [step_in_words(lang, step, people) for step in timeline]
    body = case_file_pdf(lang, case, child, history, found, made)
    name = f"case-{case.get('case_number') or case_id}-{_stamp(made.at)}"
    return _attachment(sealed_archive([(f"{name}.pdf", body)], password), SEVEN_ZIP, f"{name}.7z")
