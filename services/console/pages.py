"""What every page of the console shares: its resources, the signed-in person and their forms'
CSRF check, calls to the services as that person, an action's post/redirect/get with a refusal said
in words, and a page rendered in the person's language."""

from __future__ import annotations

import secrets
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote

import httpx
from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncEngine

from services.console.i18n import CITY_TIME, LANGUAGE_NAMES, LOCALES, Language, negotiate
from services.console.navigation import Page, may_open, pages_for, shows_search, shows_waiting
from services.console.oidc import Provider
from services.console.settings import ConsoleSettings
from services.console.sign_in_guards import SignInForms, SignInThrottle
from services.console.users import SignedIn, session_of
from shared.auth import issue_token
from shared.territory.registry import TerritoryRegistry

SESSION_COOKIE = "cpnet_session"
LANGUAGE_COOKIE = "cpnet_lang"
# A token minted for one page's reads: minutes, not the working day a person's session lasts.
PAGE_TOKEN_TTL = timedelta(minutes=5)
TEMPLATES = Path(__file__).parent / "templates"
# The longest page address a person is sent back to (a board's filters fit many times over).
MAX_LOCAL_PATH = 2048


@dataclass
class Console:
    settings: ConsoleSettings
    engine: AsyncEngine
    http: httpx.AsyncClient
    pages: dict[str, Environment]
    words: dict[str, Language]
    territory: TerritoryRegistry
    sign_in_throttle: SignInThrottle
    sign_in_forms: SignInForms
    provider: Provider | None = None  # OpenID Connect in place of passwords, when configured

    def service_url(self, service: str) -> str:
        port = self.settings.port_of(service)
        template = self.settings.console_services_url or f"http://{self.settings.http_host}:{{port}}"
        return template.format(service=service, port=port)


def environments(words: dict[str, Language]) -> dict[str, Environment]:
    """One Jinja environment per language, its catalog installed."""
    pages = {}
    for locale, language in words.items():
        env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            extensions=["jinja2.ext.i18n"],
        )
        env.install_gettext_translations(language.translations, newstyle=True)
        env.globals.update(
            lang=language,
            locales=LOCALES,
            language_names=LANGUAGE_NAMES,
            pages_for=pages_for,
            shows_waiting=shows_waiting,
            shows_search=shows_search,
        )
        pages[locale] = env
    return pages


def now() -> datetime:
    return datetime.now(UTC)


async def _console(request: Request) -> Console:
    return request.app.state.console


ConsoleDep = Annotated[Console, Depends(_console)]


def locale_of(request: Request) -> str:
    return negotiate(request.headers.get("accept-language"), request.cookies.get(LANGUAGE_COOKIE))


def language_of(console: Console, request: Request) -> Language:
    return console.words[locale_of(request)]


def render(
    console: Console, request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    locale = locale_of(request)
    page = console.pages[locale].get_template(template).render(request=request, **context)
    return HTMLResponse(
        page,
        status_code=status_code,
        headers={"Content-Language": locale.replace("_", "-"), "Cache-Control": "no-store"},
    )


def cookie_options(console: Console) -> dict[str, Any]:
    production = console.settings.environment == "production"
    return {"httponly": True, "samesite": "strict", "secure": production, "path": "/"}


def local_path(target: str) -> str:
    """Only a path of this site is a place to go back to, else `/` — the one check of every `next`
    (both sign-ins, the language switch). Never another site's address: not `//host`, nor `/\\host`
    (browsers read `\\` as `/`), nor one that becomes so once a browser drops its tabs and line
    breaks (`/<TAB>/host`) or something decodes it once (`/%5Chost`); no control character at all,
    and at most MAX_LOCAL_PATH characters."""
    if len(target) > MAX_LOCAL_PATH:
        return "/"
    for form in (target, unquote(target)):
        if not form.startswith("/") or form.startswith("//") or "\\" in form:
            return "/"
        if any(unicodedata.category(ch) == "Cc" for ch in form):
            return "/"
    return target


class SignInRequired(Exception):
    """No live session: the person is sent to sign in, and back where they were after."""

    def __init__(self, back_to: str) -> None:
        self.back_to = back_to


async def signed_in(request: Request, console: ConsoleDep) -> SignedIn:
    """FastAPI dependency: the person whose live session the cookie names, else to the sign-in page."""
    async with console.engine.begin() as connection:
        person = await session_of(connection, request.cookies.get(SESSION_COOKIE), now=now())
    if person is None:
        raise SignInRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    request.state.person = person  # for the error page, if the page ends in one (session_token_of)
    return person


def session_token_of(request: Request) -> str | None:
    """The CSRF token of the session `signed_in` found for this request, if it found one: an error
    page's forms (its language switch) carry it."""
    person = getattr(request.state, "person", None)
    return person.csrf_token if person else None


async def signed_in_still(request: Request, console: ConsoleDep) -> SignedIn | None:
    """FastAPI dependency for what a page fetches by itself (the header's counts): the person of a
    live session, or None — without noting a use, so a page left open does not keep its session
    alive past the idle limit."""
    async with console.engine.begin() as connection:
        return await session_of(connection, request.cookies.get(SESSION_COOKIE), now=now(), touch=False)


Person = Annotated[SignedIn, Depends(signed_in)]
PersonIfAny = Annotated[SignedIn | None, Depends(signed_in_still)]


def require_page(person: SignedIn, page: Page) -> None:
    """A page the person's role does not open is a 403 (its link is not in their header either)."""
    if not may_open(person.principal, page):
        raise HTTPException(
            status_code=403, detail=f"{page.path} is not for the role {person.principal.role}"
        )


def require_csrf(person: SignedIn, token: str | None) -> None:
    """A form of this session carries its CSRF token; anything else is refused (403)."""
    if not token or not secrets.compare_digest(token, person.csrf_token):
        raise HTTPException(
            status_code=403, detail="the form is missing its CSRF token or it is not this session's"
        )


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


async def call(
    console: Console,
    person: SignedIn,
    service: str,
    method: str,
    path: str,
    *,
    headers_extra: dict[str, str] | None = None,
    **options: Any,
) -> Any:
    """One request to a service as the signed-in person (a token minted for it), its JSON back."""
    answer = await _answer(console, person, service, method, path, headers_extra=headers_extra, **options)
    return answer.json()


async def call_counted(
    console: Console, person: SignedIn, service: str, path: str, **options: Any
) -> tuple[Any, int]:
    """A page of a list read from a service, and the count found (its `X-Total-Count` header)."""
    answer = await _answer(console, person, service, "GET", path, **options)
    found = answer.json()
    return found, int(answer.headers.get("x-total-count", len(found)))


@dataclass(frozen=True)
class ListPage:
    """One page of a list a service gives, filtered by what the person typed: its items, the count
    found, where the previous and next pages start, and the problem to say (a case number the service
    refused as not one)."""

    items: list[Any]
    total: int
    pages: dict[str, int | None]
    problem: str | None = None


async def list_page(
    console: Console,
    person: SignedIn,
    service: str,
    path: str,
    query: dict[str, Any],
    *,
    offset: int,
    size: int,
) -> ListPage:
    try:
        items, total = await call_counted(
            console, person, service, path, params={**query, "offset": offset, "limit": size}
        )
        problem = None
    except ServiceAnswer as exc:
        if exc.status_code != 422:
            raise
        items, total, problem = [], 0, "case_number"
    pages = {
        "previous": offset - size if offset > 0 else None,
        "next": offset + size if offset + size < total else None,
    }
    return ListPage(items, total, pages, problem)


async def _answer(
    console: Console,
    person: SignedIn,
    service: str,
    method: str,
    path: str,
    *,
    headers_extra: dict[str, str] | None = None,
    **options: Any,
) -> httpx.Response:
    principal = person.principal
    token = issue_token(
        console.settings,
        subject=principal.subject,
        role=principal.role,
        agency=principal.agency,
        jurisdiction=principal.jurisdiction,
        provider=principal.provider,
        ttl=PAGE_TOKEN_TTL,
    )
    headers = {"Authorization": f"Bearer {token}", **(headers_extra or {})}
    try:
        answer = await console.http.request(
            method, console.service_url(service) + path, headers=headers, **options
        )
    except httpx.HTTPError:
        raise ServiceAnswer(502) from None
    if answer.status_code >= 400:
        try:
            detail = answer.json().get("detail")
        except (ValueError, AttributeError):
            detail = None
        raise ServiceAnswer(answer.status_code, detail)
    return answer


async def optional(read) -> Any:
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
NAMED_PROBLEMS = (
    "open_referrals",
    "open_services",
    "no_recent_visit",
    "child_has_open_case",
    "merged_by_link",
)


def _problem(refusal: ServiceAnswer) -> str:
    code = refusal.detail.get("code") if isinstance(refusal.detail, dict) else None
    return code if code in NAMED_PROBLEMS else PROBLEMS[refusal.status_code]


async def act(
    console: Console,
    person: SignedIn,
    back_to: uuid.UUID | str,
    service: str,
    path: str,
    body: dict[str, Any],
    *,
    method: str = "POST",
    refused_to: str | None = None,
    invalid: Callable[[Any], Awaitable[Response | None]] | None = None,
    **options: Any,
) -> Response:
    """One action, then back to its page (a case's, by its id, or the path given); a refusal is
    said there, in words (or on the page `refused_to`, the form's own, when it had one) — or, for a
    422, by `invalid` (the page again, each mistake beside its field and what was typed kept) when it
    answers one."""
    page = f"/cases/{back_to}" if isinstance(back_to, uuid.UUID) else back_to
    try:
        await call(console, person, service, method, path, json=body, **options)
    except ServiceAnswer as exc:
        if exc.status_code not in PROBLEMS:
            raise
        shown = await invalid(exc.detail) if invalid and exc.status_code == 422 else None
        if shown is not None:
            return shown
        there = refused_to or page
        joiner = "&" if "?" in there else "?"
        return RedirectResponse(f"{there}{joiner}problem={_problem(exc)}", status_code=303)
    return RedirectResponse(page, status_code=303)


def local_time(value: Any) -> str | None:
    """A form's date and time (typed in China Standard Time) as an ISO moment, or None."""
    try:
        return datetime.fromisoformat(str(value)).replace(tzinfo=CITY_TIME).isoformat()
    except ValueError:
        return None


def note_of(form: Any) -> str | None:
    """The note a person wrote with an action, or None when they wrote nothing (the service trims it and
    refuses one beyond 4,000 characters, in words beside the field)."""
    return str(form.get("note") or "").strip() or None
