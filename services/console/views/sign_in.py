"""Signing in (a password, or the organisation's identity provider), signing out, and the language
switch, which comes back to the very page and query it was pressed on. Every sign-in attempt passes
services/console/sign_in_guards.py first (the form's bound token, the throttle); an attempt it
refuses costs no password hash."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.i18n import LOCALES
from services.console.oidc import SignInFailed
from services.console.pages import (
    LANGUAGE_COOKIE,
    SESSION_COOKIE,
    Console,
    ConsoleDep,
    Person,
    PersonIfAny,
    cookie_options,
    local_path,
    now,
    render,
    require_csrf,
)
from services.console.sign_in_guards import posted_from_own_pages
from services.console.users import authenticate, close_session, linked_to, open_session
from shared.ratelimit import retry_after

SIGN_IN_CSRF_COOKIE = "cpnet_sign_in"
OIDC_STATE_COOKIE = "cpnet_oidc_state"
# Where the language switch returns from the provider's callback: never to its address, whose query
# holds the provider's one-time code and state.
SIGN_IN = "/sign-in"

router = APIRouter()


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, console: ConsoleDep, next: str = "/") -> Response:
    return _sign_in_form(console, request, next_page=next)


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(
    request: Request,
    console: ConsoleDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    if console.provider is not None:
        raise HTTPException(status_code=403, detail="passwords are off: sign in with the identity provider")
    if not _is_sign_in_forms(console, request, csrf_token) or not posted_from_own_pages(request.headers):
        raise HTTPException(status_code=403, detail="the sign-in form is missing its CSRF token")
    if wait := console.sign_in_throttle.wait(_address(request), username):
        return _throttled(console, request, wait, next_page=next, username=username)
    async with console.engine.begin() as connection:
        outcome, account = await authenticate(connection, username, password, now=now())
        if account is not None:
            token, _ = await open_session(connection, account, now=now())
    if account is None:
        # One answer whatever went wrong (an unknown name, a wrong password, an account disabled or
        # waiting after wrong passwords): the answer tells a stranger nothing of the account.
        return _sign_in_form(
            console, request, next_page=next, error="refused", username=username, status_code=401
        )
    answer = RedirectResponse(local_path(next), status_code=303)
    answer.set_cookie(SESSION_COOKIE, token, **cookie_options(console))
    answer.delete_cookie(SIGN_IN_CSRF_COOKIE, path="/")
    return answer


@router.get("/sign-in/oidc")
async def sign_in_with_provider(request: Request, console: ConsoleDep, next: str = "/") -> Response:
    if console.provider is None:
        raise HTTPException(status_code=404, detail="no identity provider is configured")
    if wait := console.sign_in_throttle.wait(_address(request)):
        return _throttled(console, request, wait, next_page=next)
    try:
        target, state = await console.provider.start(
            console.http, redirect_uri=_callback(console), next_page=local_path(next)
        )
    except (SignInFailed, httpx.HTTPError):
        return _sign_in_form(console, request, next_page=next, error="provider", status_code=502)
    answer = RedirectResponse(target, status_code=303)
    # Lax, not Strict: the provider sends the browser back from another site.
    answer.set_cookie(
        OIDC_STATE_COOKIE,
        state,
        max_age=600,
        httponly=True,
        samesite="lax",
        secure=console.settings.environment == "production",
        path="/sign-in/oidc",
    )
    return answer


@router.get("/sign-in/oidc/callback", response_class=HTMLResponse)
async def provider_answered(
    request: Request, console: ConsoleDep, code: str = "", state: str = ""
) -> Response:
    if console.provider is None:
        raise HTTPException(status_code=404, detail="no identity provider is configured")
    try:
        identity = await console.provider.finish(
            console.http,
            state=state,
            bound_state=request.cookies.get(OIDC_STATE_COOKIE),
            code=code,
            redirect_uri=_callback(console),
        )
    except (SignInFailed, httpx.HTTPError):
        return _sign_in_form(console, request, next_page="/", error="provider", status_code=401, here=SIGN_IN)
    async with console.engine.begin() as connection:
        account = await linked_to(connection, issuer=identity.issuer, subject=identity.subject)
        if account is not None:
            token, _ = await open_session(connection, account, now=now())
    if account is None:
        # The identity, so the person can give it to the administrator who links it.
        return _sign_in_form(
            console,
            request,
            next_page="/",
            error="not_a_user",
            status_code=403,
            here=SIGN_IN,
            identity=identity,
        )
    # A page, not a redirect: the session cookie is SameSite=Strict, and a redirect that began on
    # the provider's site would not carry it; the page's own navigation does. Its address is checked
    # again where it is used, whatever checked it before.
    answer = render(
        console, request, "signed_in.html", next_page=local_path(identity.next_page), here=SIGN_IN
    )
    answer.set_cookie(SESSION_COOKIE, token, **cookie_options(console))
    answer.delete_cookie(OIDC_STATE_COOKIE, path="/sign-in/oidc")
    return answer


@router.post("/sign-out")
async def sign_out(
    request: Request,
    console: ConsoleDep,
    person: Person,
    csrf_token: Annotated[str | None, Form(max_length=200)] = None,
) -> Response:
    require_csrf(person, csrf_token)
    async with console.engine.begin() as connection:
        await close_session(connection, request.cookies.get(SESSION_COOKIE))
    answer = RedirectResponse("/sign-in", status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path="/")
    # What the browser kept of the session's pages (its cache; htmx's history in sessionStorage,
    # should an older page have put some there) goes with it. Not "cookies": the next sign-in would
    # still work, but the language the person chose would go too; the session's cookie is deleted
    # above, and the session itself is closed.
    answer.headers["Clear-Site-Data"] = '"cache", "storage"'
    return answer


@router.post("/language")
async def choose_language(
    request: Request,
    console: ConsoleDep,
    person: PersonIfAny,
    locale: Annotated[str, Form(max_length=10)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """The person's language from now on, and back to the page it was chosen on, its query kept (a
    filtered board stays filtered; a child's details keep the purpose they were read for). Its form
    carries a CSRF token like every other: the session's, or the sign-in form's before there is one."""
    if not _is_sign_in_forms(console, request, csrf_token):
        if person is None:
            raise HTTPException(status_code=403, detail="the form is missing its CSRF token")
        require_csrf(person, csrf_token)
    if locale not in LOCALES:
        raise HTTPException(status_code=422, detail="not a language of the console")
    answer = RedirectResponse(local_path(next), status_code=303)
    answer.set_cookie(LANGUAGE_COOKIE, locale, max_age=365 * 24 * 3600, samesite="strict", path="/")
    return answer


def _is_sign_in_forms(console: Console, request: Request, csrf_token: str) -> bool:
    """The token is the one the sign-in form was given, bound to its cookie by the console's secret."""
    return console.sign_in_forms.matches(request.cookies.get(SIGN_IN_CSRF_COOKIE), csrf_token)


def _callback(console: Console) -> str:
    settings = console.settings
    base = settings.console_public_url or f"http://{settings.http_host}:{settings.console_port}"
    return base.rstrip("/") + "/sign-in/oidc/callback"


def _address(request: Request) -> str | None:
    """The client address the throttle counts: the connection's (a proxy's own, unless the server
    is told to trust its forwarded-for header)."""
    return request.client.host if request.client else None


def _throttled(
    console: Console, request: Request, wait: float, *, next_page: str, username: str = ""
) -> Response:
    """Too many sign-in attempts: the form again, saying so in words, with Retry-After."""
    headers = retry_after(wait)
    answer = _sign_in_form(
        console,
        request,
        next_page=next_page,
        error="throttled",
        username=username,
        status_code=429,
        seconds=int(headers["Retry-After"]),
    )
    answer.headers.update(headers)
    return answer


def _sign_in_form(
    console: Console,
    request: Request,
    *,
    next_page: str,
    error: str | None = None,
    username: str = "",
    status_code: int = 200,
    here: str | None = None,
    **context: object,
) -> Response:
    cookie, csrf = console.sign_in_forms.new()
    answer = render(
        console,
        request,
        "sign_in.html",
        status_code=status_code,
        csrf_token=csrf,
        next_page=local_path(next_page),
        error=error,
        username=username,
        oidc=console.provider is not None,
        here=here,
        **context,
    )
    answer.set_cookie(SIGN_IN_CSRF_COOKIE, cookie, **cookie_options(console))
    return answer
