"""The console's security headers, against the real PostgreSQL: every kind of answer — the sign-in
page, a page after sign-in, a redirect, htmx's fragment, a static file, a 403, a 404, a server
error — carries the strict CSP and its companions (HSTS in production only), and sign-out asks the
browser to forget what it kept of the session's pages."""

from __future__ import annotations

import httpx
import pytest
from fastapi.responses import HTMLResponse, Response
from fastapi.testclient import TestClient

from cpnet.registry import upgrade
from services.console.app import build_console
from shared.settings import Settings
from tests.integration.test_console_pages import _add, _form_token, _sign_in

EXPECTED = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"


@pytest.fixture
def database(infra) -> str:
    """The console's schema, migrated; the database's address."""
    upgrade("console", infra.database_url)
    return infra.database_url


def _console(database: str, **settings) -> TestClient:
    app = build_console(Settings(database_url=database).model_copy(update=settings))

    @app.get("/a-page-that-fails")
    async def _fails() -> None:
        raise RuntimeError("a failure nobody handled")

    @app.get("/a-page-that-asks-to-be-framed")
    async def _framed() -> Response:
        return HTMLResponse(
            "<p>framed</p>",
            headers={"X-Frame-Options": "ALLOWALL", "Content-Security-Policy": "default-src *"},
        )

    return TestClient(
        app, base_url="http://console.test", follow_redirects=False, raise_server_exceptions=False
    )


def _protected(answer: httpx.Response) -> None:
    shown = f"{answer.request.method} {answer.request.url.path} → {answer.status_code}"
    for name, value in EXPECTED.items():
        assert answer.headers.get(name) == value, f"{shown}: {name}"
    permissions = answer.headers.get("permissions-policy", "")
    for feature in ("camera", "microphone", "geolocation", "payment"):
        assert f"{feature}=()" in permissions, f"{shown}: Permissions-Policy {feature}"


async def test_every_kind_of_answer_carries_the_security_headers(infra, database: str) -> None:
    with _console(database) as console:
        signed_out = [
            console.get("/sign-in"),
            console.get("/board?owner=me"),
            console.get("/no-such-page"),
            console.get("/static/console.css"),
            console.get("/static/vendor/htmx/htmx.min.js"),
            console.get("/waiting"),
            console.post("/language", data={"locale": "en"}),
            console.get("/a-page-that-fails"),
            console.get("/healthz"),
        ]
        assert [a.status_code for a in signed_out] == [200, 303, 404, 200, 200, 286, 403, 500, 200]
        _sign_in(console, await _add(infra, "supervisor", "140402"))

        def casework(request: httpx.Request) -> httpx.Response:
            counts = [{"kind": "overdue", "count": 2, "worklist": {"overdue": "true"}}]
            return httpx.Response(200, json=counts)

        console.app.state.console.http = fake = httpx.AsyncClient(transport=httpx.MockTransport(casework))
        signed_in = [
            console.get("/"),
            console.get("/waiting"),
            console.get("/inbox"),
            console.post("/sign-out", data={"csrf_token": _form_token(console, "/inbox")}),
        ]
        assert [a.status_code for a in signed_in] == [303, 200, 403, 303]
        assert "<li>" in signed_in[1].text, "htmx's fragment: the header's counts"
        await fake.aclose()
    for answer in signed_out + signed_in:
        _protected(answer)
        assert "strict-transport-security" not in answer.headers, "no HSTS over development's plain HTTP"


def test_production_answers_tell_the_browser_to_keep_to_https(database: str) -> None:
    with _console(database, environment="production") as console:
        answers = [
            console.get("/sign-in"),
            console.get("/board"),
            console.get("/static/console.css"),
            console.get("/no-such-page"),
            console.get("/a-page-that-fails"),
        ]
    for answer in answers:
        _protected(answer)
        assert answer.headers["strict-transport-security"] == HSTS


def test_a_route_cannot_weaken_the_headers(database: str) -> None:
    with _console(database) as console:
        answer = console.get("/a-page-that-asks-to-be-framed")
    assert answer.headers["x-frame-options"] == EXPECTED["x-frame-options"]
    assert answer.headers.get_list("content-security-policy") == [EXPECTED["content-security-policy"]]


async def test_sign_out_clears_what_the_browser_kept_of_the_session(infra, database: str) -> None:
    with _console(database) as console:
        _sign_in(console, await _add(infra, "supervisor", "140402"))
        out = console.post("/sign-out", data={"csrf_token": _form_token(console, "/inbox")})
    assert out.status_code == 303 and out.headers["location"] == "/sign-in"
    assert out.headers["clear-site-data"] == '"cache", "storage"'
