"""The console: server-rendered pages (Jinja2) over the services' APIs, in Chinese or English.

It keeps people and sessions only. A signed-in person's every read goes to the services with a
token the console mints for them for a few minutes (it is the tokens' issuer: it alone holds
the signing key), so every authorisation and access-audit rule of the services applies to what a
person sees. Sessions live in an HTTP-only, SameSite=Strict cookie; every form carries the
session's CSRF token (the sign-in form a cookie-bound one), and a form without it is a 403.

This module assembles the console: its resources, its error pages, its health, and one router per
area of work (services/console/views/); what the pages share is services/console/pages.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from services.console.headers import SecurityHeaders
from services.console.i18n import languages
from services.console.oidc import Provider
from services.console.pages import (
    SESSION_COOKIE,
    Console,
    ConsoleDep,
    ServiceAnswer,
    SignInRequired,
    environments,
    render,
    session_token_of,
)
from services.console.settings import ConsoleSettings
from services.console.sign_in_guards import SignInForms, SignInThrottle
from services.console.views import (
    access,
    approvals,
    board,
    bulletins,
    cases,
    dashboard,
    delivery,
    exports,
    home,
    identification,
    inbox,
    meetings,
    overdue,
    providers,
    quality,
    reports,
    sign_in,
)
from shared.db.engine import make_engine
from shared.health import database_answers
from shared.settings import Settings
from shared.territory.registry import load_territory

__all__ = ["ROUTERS", "SESSION_COOKIE", "build_console", "run_console"]

STATIC = Path(__file__).parent / "static"
# One router per area of work, in the order a person meets them.
ROUTERS = (
    sign_in.router,
    home.router,
    board.router,
    exports.router,
    cases.router,
    identification.router,
    reports.router,
    inbox.router,
    delivery.router,
    approvals.router,
    overdue.router,
    dashboard.router,
    providers.router,
    bulletins.router,
    quality.router,
    meetings.router,
    access.router,
)


class ConsoleApp(FastAPI):
    """The console's application, its security headers (services/console/headers.py) outside the
    whole stack: the answers Starlette gives outside the user middleware (a server error, a body too
    large) carry them too."""

    production = False

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack(), production=self.production)


def build_console(settings: Settings) -> FastAPI:
    """The console's app, with its own settings (those given, its own fields from the environment)."""
    settings = settings.of_kind(ConsoleSettings)
    territory = load_territory(settings.territory_file)
    words = languages(territory)
    provider = None
    if settings.console_oidc_issuer:
        provider = Provider(
            settings.console_oidc_issuer,
            settings.console_oidc_client_id,
            settings.console_oidc_client_secret.get_secret_value(),
        )
    throttle, forms = SignInThrottle.from_settings(settings), SignInForms.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        async with httpx.AsyncClient(timeout=10.0) as http:
            pages = environments(words)
            app.state.console = Console(
                settings, engine, http, pages, words, territory, throttle, forms, provider
            )
            try:
                yield
            finally:
                await engine.dispose()

    app = ConsoleApp(
        title="cpnet console", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.production = settings.environment == "production"
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _error_pages(app)
    app.add_api_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_api_route("/readyz", readyz, methods=["GET"], include_in_schema=False)
    for router in ROUTERS:
        app.include_router(router)
    return app


def _error_pages(app: FastAPI) -> None:
    """Every failure a person meets is a page in their language, never a service's JSON."""

    @app.exception_handler(SignInRequired)
    async def _to_sign_in(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/sign-in?next={quote(exc.back_to, safe='')}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _error_page(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(request, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _bad_address(request: Request, exc: RequestValidationError) -> Response:
        # A page's address with a part that is not what it takes (a case number that is not one, a
        # purpose not in the list): a page in words, never the validator's JSON.
        return _error(request, 422)

    @app.exception_handler(ServiceAnswer)
    async def _service_error(request: Request, exc: ServiceAnswer) -> Response:
        # A case outside the person's territory is a 404 from the service: the same here. A 422 is the
        # service refusing what the page's address asked (a part typed by hand), not a service failing.
        return _error(request, exc.status_code if exc.status_code in (403, 404, 422) else 502)


def _error(request: Request, status: int) -> Response:
    return render(
        request.app.state.console,
        request,
        "error.html",
        status_code=status,
        status=status,
        csrf_token=session_token_of(request),
    )


async def healthz() -> dict[str, str]:
    return {"status": "ok", "service": "console"}


async def readyz(console: ConsoleDep) -> Response:
    """Ready: the console's database answers (the services answer for themselves)."""
    ready = await database_answers(console.engine)
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "service": "console"}, status_code=200 if ready else 503
    )


def run_console(settings: Settings, *, port: int | None = None) -> None:
    """Serve the console in the foreground until interrupted."""
    import asyncio

    import uvicorn

    from shared.health import require_database
    from shared.logging import configure_logging

    asyncio.run(require_database(settings.database_url))
    configure_logging(service="console", log_format=settings.log_format, level=settings.log_level)
    uvicorn.run(
        build_console(settings),
        host=settings.http_host,
        port=port or settings.console_port,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
