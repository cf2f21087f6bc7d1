"""The console: server-rendered pages (Jinja2) over the services' APIs, in Chinese or English.

It keeps people and sessions only. A signed-in person's every read goes to the services with a
token the console mints for them for a few minutes (it is the tokens' issuer: it alone holds
the signing key), so every authorisation and access-audit rule of the services applies to what a
person sees. Sessions live in an HTTP-only, SameSite=Strict cookie; every form carries the
session's CSRF token (the sign-in form a cookie-bound one), and a form without it is a 403."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException
from sqlalchemy.ext.asyncio import AsyncEngine

from services.console.charts import weekly_bars
from services.console.oidc import Provider, SignInFailed
from services.console.i18n import CITY_TIME, LANGUAGE_NAMES, LOCALES, Language, languages, negotiate
from services.console.users import (
    SignedIn,
    authenticate,
    caseworkers_for,
    close_session,
    open_session,
    session_of,
    usernames_of,
    vouched_for,
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
from shared.auth import Role, issue_token
from shared.contracts.vocabulary import (
    AccessPurpose,
    Agency,
    Channel,
    ClosureReason,
    Need,
    ScreenOutReason,
    TransferReason,
    WithdrawalReason,
)
from shared.db.engine import make_engine
from shared.health import database_answers
from shared.settings import Settings
from shared.territory.registry import TerritoryRegistry, load_territory

SESSION_COOKIE = "cpnet_session"
SIGN_IN_CSRF_COOKIE = "cpnet_sign_in"
OIDC_STATE_COOKIE = "cpnet_oidc_state"
LANGUAGE_COOKIE = "cpnet_lang"
# A token minted for one page's reads: minutes, not the working day a person's session lasts.
PAGE_TOKEN_TTL = timedelta(minutes=5)
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


@dataclass
class Console:
    settings: Settings
    engine: AsyncEngine
    http: httpx.AsyncClient
    pages: dict[str, Environment]
    words: dict[str, Language]
    territory: TerritoryRegistry
    provider: Provider | None = None  # OpenID Connect in place of passwords, when configured

    def service_url(self, service: str) -> str:
        port = self.settings.port_of(service)
        template = self.settings.console_services_url or f"http://{self.settings.http_host}:{{port}}"
        return template.format(service=service, port=port)


def _environments(words: dict[str, Language]) -> dict[str, Environment]:
    pages = {}
    for locale, language in words.items():
        env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                          extensions=["jinja2.ext.i18n"])
        env.install_gettext_translations(language.translations, newstyle=True)
        env.globals.update(lang=language, locales=LOCALES, language_names=LANGUAGE_NAMES)
        pages[locale] = env
    return pages


def _now() -> datetime:
    return datetime.now(UTC)


async def _console(request: Request) -> Console:
    return request.app.state.console


ConsoleDep = Annotated[Console, Depends(_console)]


def _locale(request: Request) -> str:
    return negotiate(request.headers.get("accept-language"), request.cookies.get(LANGUAGE_COOKIE))


def render(console: Console, request: Request, template: str, *, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    locale = _locale(request)
    page = console.pages[locale].get_template(template).render(request=request, **context)
    return HTMLResponse(page, status_code=status_code, headers={"Content-Language": locale.replace("_", "-"),
                                                                 "Cache-Control": "no-store"})


def _cookie_options(console: Console) -> dict[str, Any]:
    return dict(httponly=True, samesite="strict", secure=console.settings.environment == "production", path="/")


class SignInRequired(Exception):
    """No live session: the person is sent to sign in, and back where they were after."""

    def __init__(self, back_to: str) -> None:
        self.back_to = back_to


async def signed_in(request: Request, console: ConsoleDep) -> SignedIn:
    """FastAPI dependency: the person whose live session the cookie names, else to the sign-in page."""
    async with console.engine.begin() as connection:
        person = await session_of(connection, request.cookies.get(SESSION_COOKIE), now=_now())
    if person is None:
        raise SignInRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return person


Person = Annotated[SignedIn, Depends(signed_in)]


def require_csrf(person: SignedIn, token: str | None) -> None:
    """A form of this session carries its CSRF token; anything else is refused (403)."""
    if not token or not secrets.compare_digest(token, person.csrf_token):
        raise HTTPException(status_code=403, detail="the form is missing its CSRF token or it is not this session's")


async def checked_form(request: Request, person: SignedIn):
    """The form a person posted, once it carries their session's CSRF token (else 403)."""
    form = await request.form()
    require_csrf(person, form.get("csrf_token"))
    return form


class ServiceAnswer(Exception):
    """A service refused or failed a request the page made; `detail` is its answer's, if any."""

    def __init__(self, status_code: int, detail: Any = None) -> None:
        self.status_code = status_code
        self.detail = detail


async def call(console: Console, person: SignedIn, service: str, method: str, path: str, *,
               headers_extra: dict[str, str] | None = None, **options: Any) -> Any:
    """One request to a service as the signed-in person (a token minted for it), its JSON back."""
    principal = person.principal
    token = issue_token(console.settings, subject=principal.subject, role=principal.role, agency=principal.agency,
                        jurisdiction=principal.jurisdiction, ttl=PAGE_TOKEN_TTL)
    try:
        answer = await console.http.request(method, console.service_url(service) + path,
                                            headers={"Authorization": f"Bearer {token}", **(headers_extra or {})},
                                            **options)
    except httpx.HTTPError:
        raise ServiceAnswer(502) from None
    if answer.status_code >= 400:
        try:
            detail = answer.json().get("detail")
        except (ValueError, AttributeError):
            detail = None
        raise ServiceAnswer(answer.status_code, detail)
    return answer.json()


def build_console(settings: Settings) -> FastAPI:
    territory = load_territory(settings.territory_file)
    words = languages(territory)
    provider = Provider(settings.console_oidc_issuer, settings.console_oidc_client_id,
                        settings.console_oidc_client_secret.get_secret_value(),
                        settings.console_oidc_username_claim) if settings.console_oidc_issuer else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        async with httpx.AsyncClient(timeout=10.0) as http:
            app.state.console = Console(settings, engine, http, _environments(words), words, territory, provider)
            try:
                yield
            finally:
                await engine.dispose()

    app = FastAPI(title="cpnet console", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(SignInRequired)
    async def _to_sign_in(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/sign-in?next={quote(exc.back_to, safe='')}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _error_page(request: Request, exc: StarletteHTTPException) -> Response:
        return render(request.app.state.console, request, "error.html", status_code=exc.status_code,
                      status=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _bad_address(request: Request, exc: RequestValidationError) -> Response:
        # A page's address with a part that is not what it takes (a case number that is not one, a
        # purpose not in the list): a page in words, never the validator's JSON.
        return render(request.app.state.console, request, "error.html", status_code=422, status=422)

    @app.exception_handler(ServiceAnswer)
    async def _service_error(request: Request, exc: ServiceAnswer) -> Response:
        # A case outside the person's territory is a 404 from the service: the same here.
        status = exc.status_code if exc.status_code in (403, 404) else 502
        return render(request.app.state.console, request, "error.html", status_code=status, status=status)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "console"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(console: ConsoleDep) -> Response:
        """Ready: the console's database answers (the services answer for themselves)."""
        ready = await database_answers(console.engine)
        return JSONResponse({"status": "ready" if ready else "not ready", "service": "console"},
                            status_code=200 if ready else 503)

    @app.get("/sign-in", response_class=HTMLResponse)
    async def sign_in_page(request: Request, console: ConsoleDep, next: str = "/") -> Response:
        return _sign_in_form(console, request, next_page=next)

    @app.post("/sign-in", response_class=HTMLResponse)
    async def sign_in(request: Request, console: ConsoleDep, username: Annotated[str, Form(max_length=200)] = "",
                      password: Annotated[str, Form(max_length=1000)] = "",
                      csrf_token: Annotated[str, Form(max_length=200)] = "",
                      next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
        if console.provider is not None:
            raise HTTPException(status_code=403, detail="passwords are off: sign in with the identity provider")
        expected = request.cookies.get(SIGN_IN_CSRF_COOKIE)
        if not expected or not csrf_token or not secrets.compare_digest(expected, csrf_token):
            raise HTTPException(status_code=403, detail="the sign-in form is missing its CSRF token")
        async with console.engine.begin() as connection:
            outcome, account = await authenticate(connection, username, password, now=_now())
            if account is not None:
                token, _ = await open_session(connection, account, now=_now())
        if account is None:
            return _sign_in_form(console, request, next_page=next, error=outcome, username=username,
                                 status_code=401)
        answer = RedirectResponse(_local(next), status_code=303)
        answer.set_cookie(SESSION_COOKIE, token, **_cookie_options(console))
        answer.delete_cookie(SIGN_IN_CSRF_COOKIE, path="/")
        return answer

    @app.get("/sign-in/oidc")
    async def sign_in_with_provider(request: Request, console: ConsoleDep, next: str = "/") -> Response:
        if console.provider is None:
            raise HTTPException(status_code=404, detail="no identity provider is configured")
        target, state = await console.provider.start(console.http, redirect_uri=_callback(console),
                                                     next_page=_local(next))
        answer = RedirectResponse(target, status_code=303)
        # Lax, not Strict: the provider sends the browser back from another site.
        answer.set_cookie(OIDC_STATE_COOKIE, state, max_age=600, httponly=True, samesite="lax",
                          secure=console.settings.environment == "production", path="/sign-in/oidc")
        return answer

    @app.get("/sign-in/oidc/callback", response_class=HTMLResponse)
    async def provider_answered(request: Request, console: ConsoleDep, code: str = "", state: str = "") -> Response:
        if console.provider is None:
            raise HTTPException(status_code=404, detail="no identity provider is configured")
        try:
            username, next_page = await console.provider.finish(
                console.http, state=state, bound_state=request.cookies.get(OIDC_STATE_COOKIE), code=code,
                redirect_uri=_callback(console))
        except (SignInFailed, httpx.HTTPError):
            return _sign_in_form(console, request, next_page="/", error="provider", status_code=401)
        async with console.engine.begin() as connection:
            account = await vouched_for(connection, username, now=_now())
            if account is not None:
                token, _ = await open_session(connection, account, now=_now())
        if account is None:
            return _sign_in_form(console, request, next_page="/", error="not_a_user", status_code=403)
        # A page, not a redirect: the session cookie is SameSite=Strict, and a redirect that began on
        # the provider's site would not carry it; the page's own navigation does.
        answer = render(console, request, "signed_in.html", next_page=next_page)
        answer.set_cookie(SESSION_COOKIE, token, **_cookie_options(console))
        answer.delete_cookie(OIDC_STATE_COOKIE, path="/sign-in/oidc")
        return answer

    @app.post("/sign-out")
    async def sign_out(request: Request, console: ConsoleDep, person: Person,
                       csrf_token: Annotated[str | None, Form(max_length=200)] = None) -> Response:
        require_csrf(person, csrf_token)
        async with console.engine.begin() as connection:
            await close_session(connection, request.cookies.get(SESSION_COOKIE))
        answer = RedirectResponse("/sign-in", status_code=303)
        answer.delete_cookie(SESSION_COOKIE, path="/")
        return answer

    @app.post("/language")
    async def choose_language(request: Request, locale: Annotated[str, Form(max_length=10)],
                              next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
        if locale not in LOCALES:
            raise HTTPException(status_code=422, detail="not a language of the console")
        answer = RedirectResponse(_local(next), status_code=303)
        answer.set_cookie(LANGUAGE_COOKIE, locale, max_age=365 * 24 * 3600, samesite="strict", path="/")
        return answer

    @app.get("/", response_class=HTMLResponse)
    async def board(request: Request, console: ConsoleDep, person: Person, owner: str | None = None,
                    grade: str | None = None, overdue: bool | None = None,
                    pending_approval: bool | None = None) -> Response:
        if person.principal.role == Role.agency_officer:
            return RedirectResponse("/inbox", status_code=303)  # an agency's people work from its inbox
        filters = {key: value for key, value in (("owner", owner), ("grade", grade), ("overdue", overdue),
                                                   ("pending_approval", pending_approval)) if value is not None}
        cases = await call(console, person, "casework", "GET", "/v1/cases", params={**filters, "limit": 50})
        counts = await call(console, person, "casework", "GET", "/v1/cases/counts")
        async with console.engine.connect() as connection:
            names = await usernames_of(connection, (case["owner"]["caseworker"] for case in cases["cases"]))
        return render(console, request, "board.html", person=person, cases=cases["cases"], counts=counts,
                      filters=filters, names=names, now=_now())

    @app.get("/dashboard", response_class=HTMLResponse)
    async def dashboard(request: Request, console: ConsoleDep, person: Person) -> Response:
        if person.principal.role not in (Role.supervisor, Role.operator, Role.auditor):
            raise HTTPException(status_code=403, detail="the dashboard is a supervisor's")
        data = await call(console, person, "casework", "GET", "/v1/cases/dashboard")
        language = console.words[_locale(request)]
        chart = weekly_bars([(language.day(week["week_start"], short=True), week["opened"], week["closed"])
                             for week in data["weeks"]], title=language.gettext("New and closed cases per week"),
                            opened_label=language.gettext("New"), closed_label=language.gettext("Closed"))
        rows: dict[tuple[str, str], dict[str, int]] = {}
        for count in data["by_category"]:
            by_level = rows.setdefault((count["node"], count["category"]), {})
            by_level[count["risk_level"] or "none"] = by_level.get(count["risk_level"] or "none", 0) + count["cases"]
        return render(console, request, "dashboard.html", person=person, data=data, chart=chart,
                      rows=sorted(rows.items()), levels=["red", "orange", "blue"])

    @app.get("/report", response_class=HTMLResponse)
    async def report_form(request: Request, console: ConsoleDep, person: Person) -> Response:
        _may_report(person)
        return _report_page(console, request, person, values={"submission_id": str(uuid.uuid4())})

    @app.post("/report", response_class=HTMLResponse)
    async def submit_report(request: Request, console: ConsoleDep, person: Person) -> Response:
        _may_report(person)
        form = await checked_form(request, person)
        values = {name: str(form.get(name) or "") for name in (*TEXT_FIELDS, "reporter_anonymous", "submission_id")}
        categories, indicators = form.getlist("categories"), form.getlist("indicators")
        report = report_of(values, categories=categories, indicators=indicators)
        try:
            receipt = await call(console, person, "intake", "POST", "/v1/reports", json=report,
                                 headers_extra={"Idempotency-Key": values["submission_id"]})
        except ServiceAnswer as exc:
            if exc.status_code not in (403, 422):
                raise
            errors = field_errors(exc.detail) if exc.status_code == 422 else {"jurisdiction": "outside_territory"}
            return _report_page(console, request, person, values=values, errors=errors, categories=categories,
                                indicators=indicators, status_code=422)
        return render(console, request, "report_received.html", person=person, receipt=receipt)

    @app.get("/children/search", response_class=HTMLResponse)
    async def search_form(request: Request, console: ConsoleDep, person: Person) -> Response:
        _may_search(person)
        return _search_page(console, request, person, values={})

    @app.post("/children/search", response_class=HTMLResponse)
    async def search(request: Request, console: ConsoleDep, person: Person) -> Response:
        _may_search(person)
        form = await checked_form(request, person)
        values = {name: str(form.get(name) or "").strip()
                  for name in ("purpose", "child_national_id", "child_name", "child_birth_date", "jurisdiction")}
        body = {"purpose": values["purpose"] or None, "national_id": values["child_national_id"] or None,
                "name": values["child_name"] or None, "birth_date": values["child_birth_date"] or None,
                "jurisdiction": values["jurisdiction"] or None}
        try:
            found = await call(console, person, "intake", "POST", "/v1/children/search", json=body)
        except ServiceAnswer as exc:
            if exc.status_code != 422:
                raise
            errors = {"child_national_id": "missing"} if values["purpose"] else {"purpose": "missing"}
            return _search_page(console, request, person, values=values, errors=errors, status_code=422)
        return _search_page(console, request, person, values=values, searched=True, matches=found["matches"])

    @app.get("/cases/{case_id}", response_class=HTMLResponse)
    async def case_page(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID,
                        problem: str | None = None) -> Response:
        case = await call(console, person, "casework", "GET", f"/v1/cases/{case_id}")
        grade = await _optional(call(console, person, "assessment", "GET", f"/v1/cases/{case_id}/assessment"))
        referrals = await _optional(call(console, person, "referral", "GET", "/v1/referrals",
                                         params={"case_id": str(case_id)})) or []
        timeline = await _optional(call(console, person, "audit", "GET", f"/v1/cases/{case_id}/timeline")) or []
        role = person.principal.role
        async with console.engine.connect() as connection:
            caseworkers = await caseworkers_for(connection, case["jurisdiction"]) if role == Role.supervisor else []
            owner_name = (await usernames_of(connection, [case["owner"]["caseworker"]])).get(
                case["owner"]["caseworker"], case["owner"]["caseworker"])
        mine = case["owner"]["caseworker"] == person.principal.subject
        approvals = await call(console, person, "casework", "GET", "/v1/approvals",
                               params={"case_id": str(case_id), "state": "pending"})
        language = console.words[_locale(request)]
        return render(console, request, "case.html", person=person, case=case, grade=grade, referrals=referrals,
                      timeline=timeline, caseworkers=caseworkers, owner_name=owner_name, problem=problem,
                      can_assign=role == Role.supervisor,
                      can_review=case["state"] == "open" and case["risk_level"] is not None
                      and case["reviewed_at"] is None and (role == Role.supervisor or mine),
                      can_visit=role in (Role.caseworker, Role.supervisor),
                      can_withdraw=role in (Role.caseworker, Role.supervisor) and case["state"] == "open",
                      withdrawal_reasons=WITHDRAWAL_REASONS,
                      can_read_child=role in (Role.caseworker, Role.supervisor), purposes=list(AccessPurpose),
                      can_override=role == Role.supervisor and case["state"] == "open",
                      override_reasons=OVERRIDE_REASONS, plan_actions=PLAN_ACTIONS, agencies=list(Agency),
                      approvals=approvals, can_ask_close=mine and not approvals,
                      can_ask_screen_out=mine and not approvals and case["risk_level"] is not None
                      and case["reviewed_at"] is None,
                      can_ask_transfer=(mine or role == Role.supervisor) and not approvals,
                      closing_reasons=[r for r in ClosureReason if r != ClosureReason.screened_out],
                      transfer_reasons=list(TransferReason), all_places=language.villages(""),
                      assign_reasons=ASSIGN_REASONS, screen_out_reasons=list(ScreenOutReason),
                      indicators=INDICATORS, needs=list(Need),
                      now_local=datetime.now(CITY_TIME).strftime("%Y-%m-%dT%H:%M"))

    @app.get("/cases/{case_id}/child", response_class=HTMLResponse)
    async def child_details(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID,
                            purpose: AccessPurpose) -> Response:
        """The child's personal details, only once the person named why (intake records the read
        with the purpose before it shows anything)."""
        details = await call(console, person, "intake", "GET", f"/v1/cases/{case_id}/child",
                             params={"purpose": purpose.value})
        return render(console, request, "child.html", person=person, details=details)

    @app.get("/cases/{case_id}/archive", response_class=HTMLResponse)
    async def archive(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID,
                      purpose: AccessPurpose, problem: str | None = None) -> Response:
        """The child's information archive, read with a purpose (intake records it first)."""
        case = await call(console, person, "casework", "GET", f"/v1/cases/{case_id}")
        record = await call(console, person, "intake", "GET", f"/v1/children/{case['child_ref']}/archive",
                            params={"purpose": purpose.value})
        return render(console, request, "archive.html", person=person, case_id=case_id, archive=record,
                      purpose=purpose.value, parts=ARCHIVE_PARTS, problem=problem)

    @app.post("/cases/{case_id}/archive")
    async def save_archive(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID,
                           purpose: AccessPurpose) -> Response:
        form = await checked_form(request, person)
        case = await call(console, person, "casework", "GET", f"/v1/cases/{case_id}")
        return await _act(console, person, f"/cases/{case_id}/archive?purpose={purpose.value}", "intake",
                          f"/v1/children/{case['child_ref']}/archive",
                          {part: str(form.get(part) or "") for part in ARCHIVE_PARTS}, method="PUT",
                          params={"purpose": purpose.value},
                          headers_extra={"If-Match": str(form.get("version") or "0")})

    @app.post("/cases/{case_id}/assignment")
    async def assign(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
        form = await checked_form(request, person)
        body = {"caseworker": form.get("caseworker") or None, "reason": form.get("reason") or None}
        return await _act(console, person, case_id, "casework", f"/v1/cases/{case_id}/assignment", body)

    @app.post("/cases/{case_id}/review")
    async def review(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
        form = await checked_form(request, person)
        decision = form.get("decision")
        body = {"decision": decision,
                "reason": (form.get("screen_out_reason") or None) if decision == "screened_out" else None}
        return await _act(console, person, case_id, "casework", f"/v1/cases/{case_id}/review", body)

    @app.post("/cases/{case_id}/visits")
    async def visit(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
        form = await checked_form(request, person)
        visited_at = _local_time(form.get("visited_at"))
        if visited_at is None:
            return RedirectResponse(f"/cases/{case_id}?problem=invalid", status_code=303)
        body = {"visited_at": visited_at, "indicators": form.getlist("indicators"),
                "needs_met": form.getlist("needs_met"), "needs_unmet": form.getlist("needs_unmet")}
        return await _act(console, person, case_id, "followup", f"/v1/cases/{case_id}/visits", body)

    @app.post("/cases/{case_id}/referrals/{referral_id}/withdrawal")
    async def withdraw(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID,
                       referral_id: uuid.UUID) -> Response:
        form = await checked_form(request, person)
        return await _act(console, person, case_id, "referral", f"/v1/referrals/{referral_id}/withdrawal",
                          {"reason": form.get("reason") or None})

    @app.post("/cases/{case_id}/approvals")
    async def ask(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
        form = await checked_form(request, person)
        kind = form.get("kind")
        reason_field = {"close": "close_reason", "screen_out": "screen_out_request_reason",
                        "transfer": "transfer_reason"}.get(str(kind), "reason")
        body = {"kind": kind, "reason": form.get(reason_field) or None,
                **({"to_jurisdiction": form.get("to_jurisdiction") or None} if kind == "transfer" else {})}
        return await _act(console, person, case_id, "casework", f"/v1/cases/{case_id}/approvals", body)

    @app.get("/approvals", response_class=HTMLResponse)
    async def approvals_page(request: Request, console: ConsoleDep, person: Person,
                             problem: str | None = None) -> Response:
        if person.principal.role != Role.supervisor:
            raise HTTPException(status_code=403, detail="approvals are a supervisor's")
        pending = await call(console, person, "casework", "GET", "/v1/approvals", params={"state": "pending"})
        return render(console, request, "approvals.html", person=person, approvals=pending, problem=problem,
                      rejection_reasons=REJECTION_REASONS)

    @app.post("/approvals/{approval_id}")
    async def decide_approval(request: Request, console: ConsoleDep, person: Person,
                              approval_id: uuid.UUID) -> Response:
        form = await checked_form(request, person)
        approve = form.get("approve") == "yes"
        body = {"approve": approve, "reason": None if approve else (form.get("reason") or None)}
        return await _act(console, person, "/approvals", "casework", f"/v1/approvals/{approval_id}/decision", body)

    @app.post("/cases/{case_id}/home-visits")
    async def home_visit(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
        form = await checked_form(request, person)
        visited_at = _local_time(form.get("hv_visited_at"))
        if visited_at is None:
            return RedirectResponse(f"/cases/{case_id}?problem=invalid", status_code=303)
        body = {"visited_at": visited_at, "indicators": form.getlist("hv_indicators"),
                "needs": form.getlist("hv_needs")}
        return await _act(console, person, case_id, "assessment", f"/v1/cases/{case_id}/home-visits", body)

    @app.post("/cases/{case_id}/assessment-reports")
    async def assessment_report(request: Request, console: ConsoleDep, person: Person,
                                case_id: uuid.UUID) -> Response:
        form = await checked_form(request, person)
        body = {"indicators": form.getlist("ar_indicators"), "needs": form.getlist("ar_needs")}
        return await _act(console, person, case_id, "assessment", f"/v1/cases/{case_id}/assessment-reports", body)

    @app.post("/cases/{case_id}/plans")
    async def plan(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
        form = await checked_form(request, person)
        body = {"items": [{"need": form.get("plan_need") or None, "agencies": form.getlist("plan_agencies"),
                           "action": form.get("plan_action") or None}]}
        return await _act(console, person, case_id, "assessment", f"/v1/cases/{case_id}/plans", body)

    @app.post("/cases/{case_id}/override")
    async def override(request: Request, console: ConsoleDep, person: Person, case_id: uuid.UUID) -> Response:
        form = await checked_form(request, person)
        body = {"risk_level": form.get("risk_level") or None, "reason": form.get("override_reason") or None}
        return await _act(console, person, case_id, "assessment", f"/v1/cases/{case_id}/override", body)

    @app.get("/inbox", response_class=HTMLResponse)
    async def inbox(request: Request, console: ConsoleDep, person: Person, problem: str | None = None) -> Response:
        _officer(person)
        referrals = await call(console, person, "referral", "GET", "/v1/referrals", params={"limit": 200})
        waiting = [r for r in referrals if r["state"] in ("created", "acknowledged", "in_progress")]
        return render(console, request, "inbox.html", person=person, referrals=waiting, problem=problem,
                      decline_reasons=DECLINE_REASONS)

    @app.post("/inbox/{referral_id}")
    async def answer_referral(request: Request, console: ConsoleDep, person: Person,
                              referral_id: uuid.UUID) -> Response:
        _officer(person)
        form = await checked_form(request, person)
        action = form.get("action")
        body = {"action": action, **({"outcome": "successful"} if action == "complete" else {}),
                **({"reason": form.get("reason") or None} if action == "decline" else {})}
        return await _act(console, person, "/inbox", "referral", f"/v1/referrals/{referral_id}/responses", body)

    return app


ASSIGN_REASONS = ("workload", "leave", "expertise", "conflict_of_interest")
ARCHIVE_PARTS = ("home", "school", "community", "difficulties", "risks")  # intake's ArchiveContent
# What an assistance plan's item does, as a code the catalogs give words.
PLAN_ACTIONS = ("material_support", "back_to_school", "counselling", "legal_representation", "guardian_arranged",
                "medical_care")
# Why an agency declines a referral, and why a supervisor sets a grade the rules did not give.
DECLINE_REASONS = ("not_our_duty", "wrong_agency", "already_handled")
OVERRIDE_REASONS = ("more_danger_than_reported", "less_danger_than_reported", "new_information")
# Why the case's side withdraws a referral (case_closed is casework's own, when a case closed).
WITHDRAWAL_REASONS = tuple(r.value for r in WithdrawalReason if r != WithdrawalReason.case_closed)
# Why a supervisor turns a request down (a reason code is required to reject).
REJECTION_REASONS = ("needs_more_visits", "reason_not_shown", "not_for_this_territory")


async def _optional(read) -> Any:
    """What a page shows if it is there yet (a case not graded yet has no assessment)."""
    try:
        return await read
    except ServiceAnswer as exc:
        if exc.status_code == 404:
            return None
        raise


# A service's refusal of an action, as the words the page it returns to says it in: by its status,
# or by the code a service gives a refusal people must be told more of.
PROBLEMS = {403: "not_yours", 409: "refused", 422: "invalid"}
NAMED_PROBLEMS = ("open_referrals", "no_recent_visit")


def _problem(refusal: ServiceAnswer) -> str:
    code = refusal.detail.get("code") if isinstance(refusal.detail, dict) else None
    return code if code in NAMED_PROBLEMS else PROBLEMS[refusal.status_code]


async def _act(console: Console, person: SignedIn, back_to: uuid.UUID | str, service: str, path: str,
               body: dict[str, Any], *, method: str = "POST", **options: Any) -> Response:
    """One action, then back to its page (a case's, by its id, or the path given); a refusal is
    said there, in words."""
    page = f"/cases/{back_to}" if isinstance(back_to, uuid.UUID) else back_to
    try:
        await call(console, person, service, method, path, json=body, **options)
    except ServiceAnswer as exc:
        if exc.status_code not in PROBLEMS:
            raise
        joiner = "&" if "?" in page else "?"
        return RedirectResponse(f"{page}{joiner}problem={_problem(exc)}", status_code=303)
    return RedirectResponse(page, status_code=303)


def _officer(person: SignedIn) -> None:
    if person.principal.role != Role.agency_officer:
        raise HTTPException(status_code=403, detail="the inbox is an agency officer's")


def _may_search(person: SignedIn) -> None:
    if person.principal.role not in (Role.caseworker, Role.supervisor):
        raise HTTPException(status_code=403, detail="only caseworkers and supervisors search for a child")


def _search_page(console: Console, request: Request, person: SignedIn, *, values: dict[str, str],
                 errors: dict[str, str] | None = None, searched: bool = False, matches: list | None = None,
                 status_code: int = 200) -> Response:
    language = console.words[_locale(request)]
    return render(console, request, "search.html", status_code=status_code, person=person, values=values,
                  errors=errors or {}, purposes=list(AccessPurpose), searched=searched, matches=matches or [],
                  places=language.villages(person.principal.jurisdiction))


REPORTING_ROLES = frozenset({Role.hotline, Role.reporter, Role.caseworker, Role.supervisor})


def _may_report(person: SignedIn) -> None:
    if person.principal.role not in REPORTING_ROLES:
        raise HTTPException(status_code=403, detail="your role does not report")


def _report_page(console: Console, request: Request, person: SignedIn, *, values: dict[str, str],
                 errors: dict[str, str] | None = None, categories: list[str] = (), indicators: list[str] = (),
                 status_code: int = 200) -> Response:
    language = console.words[_locale(request)]
    return render(console, request, "report.html", status_code=status_code, person=person, values=values,
                  errors=errors or {}, submission_id=values.get("submission_id", ""), channels=list(Channel),
                  reporter_roles=list(REPORTER_ROLES), sexes=SEXES, categories=CATEGORIES, indicators=INDICATORS,
                  chosen_categories=set(categories), chosen_indicators=set(indicators),
                  places=language.villages(person.principal.jurisdiction),
                  can_search=person.principal.role in (Role.caseworker, Role.supervisor))


def run_console(settings: Settings, *, port: int | None = None) -> None:
    """Serve the console in the foreground until interrupted."""
    import asyncio

    import uvicorn

    from shared.health import require_database
    from shared.logging import configure_logging

    asyncio.run(require_database(settings.database_url))
    configure_logging(service="console", log_format=settings.log_format, level=settings.log_level)
    uvicorn.run(build_console(settings), host=settings.http_host, port=port or settings.console_port,
                log_config=None, access_log=False, loop="uvloop", http="httptools")


def _local_time(value: Any) -> str | None:
    """A form's date and time (typed in China Standard Time) as an ISO moment, or None."""
    try:
        return datetime.fromisoformat(str(value)).replace(tzinfo=CITY_TIME).isoformat()
    except ValueError:
        return None


def _callback(console: Console) -> str:
    base = console.settings.console_public_url or f"http://{console.settings.http_host}:{console.settings.console_port}"
    return base.rstrip("/") + "/sign-in/oidc/callback"


def _local(target: str) -> str:
    """Only a path of this site is a place to go back to (never another site's address)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _sign_in_form(console: Console, request: Request, *, next_page: str, error: str | None = None,
                  username: str = "", status_code: int = 200) -> Response:
    csrf = secrets.token_urlsafe(32)
    answer = render(console, request, "sign_in.html", status_code=status_code, csrf_token=csrf,
                    next_page=_local(next_page), error=error, username=username, oidc=console.provider is not None)
    answer.set_cookie(SIGN_IN_CSRF_COOKIE, csrf, **_cookie_options(console))
    return answer
