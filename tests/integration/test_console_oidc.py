"""An OpenID Connect provider replaces the console's passwords when configured: the console sends
the browser to the provider (code flow, PKCE S256, state and nonce), verifies the ID token the
provider's token endpoint returns against its published keys, and opens a session for the console
user an administrator linked to the token's issuer and subject — role and territory stay the
console's. A token for someone not linked (whatever username it carries: another case, spaces, a
tab, a long s), an answer for another browser's sign-in, and the password form are all refused;
the way back after signing in is a page of the console whatever `next` says; sign-ins begun and not
finished are capped, and their starts throttled per address.

The provider is a small one served over real HTTP here: discovery, authorize (the person is
signed in at the provider already), token (it checks the client's secret and the PKCE verifier)
and its keys."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form, Request
from fastapi.responses import RedirectResponse
from fastapi.testclient import TestClient
from sqlalchemy.ext.asyncio import create_async_engine

from cpnet.registry import upgrade
from services.console.app import SESSION_COOKIE, build_console
from services.console.oidc import MAX_PENDING
from services.console.settings import ConsoleSettings
from services.console.sign_in_guards import SignInThrottle
from services.console.users import add_user, link_identity

CLIENT_ID, CLIENT_SECRET = "cpnet-console", "a-client-secret-of-the-test-provider"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_URL = "http://console.test"


class FakeProvider:
    """Who is signed in at the provider, and the codes it handed out."""

    def __init__(self) -> None:
        self.person = "nobody"  # the username the provider sends (preferred_username)
        self.subject: str | None = None  # its `sub` for the person; default idp-<person>
        self.codes: dict[str, dict] = {}
        self.url = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        async def discovery() -> dict:
            return {
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
            }

        @app.get("/authorize")
        async def authorize(request: Request) -> RedirectResponse:
            q = request.query_params
            assert (
                q["client_id"] == CLIENT_ID
                and q["code_challenge_method"] == "S256"
                and "openid" in q["scope"]
            )
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "nonce": q["nonce"],
                "challenge": q["code_challenge"],
                "person": self.person,
                "subject": self.subject or f"idp-{self.person}",
                "redirect_uri": q["redirect_uri"],
            }
            return RedirectResponse(f"{q['redirect_uri']}?code={code}&state={q['state']}", status_code=302)

        @app.post("/token")
        async def token(
            request: Request, code: str = Form(), code_verifier: str = Form(), redirect_uri: str = Form()
        ) -> dict:
            sent = base64.b64decode(request.headers["authorization"].split()[1]).decode()
            grant = self.codes.pop(code)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=")
            assert sent == f"{CLIENT_ID}:{CLIENT_SECRET}" and challenge.decode() == grant["challenge"]
            assert redirect_uri == grant["redirect_uri"]
            now = datetime.now(UTC)
            id_token = jwt.encode(
                {
                    "iss": self.url,
                    "aud": CLIENT_ID,
                    "sub": grant["subject"],
                    "preferred_username": grant["person"],
                    "nonce": grant["nonce"],
                    "iat": now,
                    "exp": now + timedelta(minutes=5),
                },
                KEY,
                algorithm="RS256",
                headers={"kid": "provider-key-1"},
            )
            return {"access_token": "unused", "token_type": "Bearer", "id_token": id_token}

        @app.get("/jwks")
        async def jwks() -> dict:
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True)
            return {"keys": [{**jwk, "kid": "provider-key-1", "use": "sig", "alg": "RS256"}]}

        return app


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    fake = FakeProvider()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fake.url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(fake.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield fake
    server.should_exit = True
    thread.join(timeout=10)


def _console(infra, provider: FakeProvider, **settings: object) -> TestClient:
    upgrade("console", infra.database_url)
    return TestClient(
        build_console(
            ConsoleSettings(
                database_url=infra.database_url,
                console_oidc_issuer=provider.url,
                console_oidc_client_id=CLIENT_ID,
                console_oidc_client_secret=CLIENT_SECRET,
                console_public_url=PUBLIC_URL,
                **settings,
            )
        ),
        base_url=PUBLIC_URL,
        follow_redirects=False,
    )


@pytest.fixture
def console(infra, provider: FakeProvider) -> Iterator[TestClient]:
    with _console(infra, provider) as client:
        yield client


def _person(infra, provider: FakeProvider | None = None, username: str | None = None) -> str:
    """A console user (as `cpnet users add` adds them), linked to their account at the provider
    (`cpnet users link-oidc`) when it is given."""
    username = username or f"cw-{uuid.uuid4().hex[:8]}"

    async def add() -> None:
        engine = create_async_engine(infra.database_url)
        async with engine.begin() as connection:
            await add_user(
                connection,
                username,
                "a long enough password 42",
                role="caseworker",
                agency=None,
                jurisdiction="140402",
                now=datetime.now(UTC),
            )
            if provider is not None:
                await link_identity(connection, username, issuer=provider.url, subject=f"idp-{username}")
        await engine.dispose()

    asyncio.run(add())
    return username


def _through_the_provider(console: TestClient, next_page: str = "/report") -> httpx.Response:
    """The browser's round trip: to the provider and back to the console's callback."""
    sent = console.get(f"/sign-in/oidc?next={next_page}")
    assert sent.status_code == 303
    back = httpx.get(sent.headers["location"], follow_redirects=False)
    assert back.status_code == 302 and back.headers["location"].startswith(
        f"{PUBLIC_URL}/sign-in/oidc/callback"
    )
    callback = urlsplit(back.headers["location"])
    return console.get(f"{callback.path}?{callback.query}")


def test_the_provider_signs_in_a_console_user_with_the_consoles_role(console, provider, infra) -> None:
    provider.person, provider.subject = _person(infra, provider), None
    form = console.get("/sign-in", headers={"Accept-Language": "en"})
    assert "Sign in with your organisation's account" in form.text and 'name="password"' not in form.text
    signed_in = _through_the_provider(console)
    assert signed_in.status_code == 200 and 'url=/report"' in signed_in.text
    assert SESSION_COOKIE in signed_in.cookies
    page = console.get("/report", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "New report" in page.text and provider.person in page.text


def test_someone_the_console_does_not_know_is_refused_and_told_what_to_give_the_administrator(
    console, provider
) -> None:
    provider.person, provider.subject = "not-a-console-user", None
    refused = _through_the_provider(console)
    assert refused.status_code == 403 and SESSION_COOKIE not in refused.cookies
    assert "idp-not-a-console-user" in refused.text and provider.url in refused.text
    assert console.get("/report").status_code == 303, "still not signed in"


def test_an_account_is_matched_on_the_providers_subject_never_on_the_username_it_sends(
    console, provider, infra
) -> None:
    linked = _person(infra, provider)
    provider.person, provider.subject = "someone-else-entirely", f"idp-{linked}"
    signed_in = _through_the_provider(console, "/")
    assert signed_in.status_code == 200 and SESSION_COOKIE in signed_in.cookies, "the subject decides"
    console.cookies.clear()
    provider.person, provider.subject = linked, "idp-another-subject"
    assert _through_the_provider(console, "/").status_code == 403, "the username alone opens nothing"
    unlinked = _person(infra)
    provider.person, provider.subject = unlinked, None
    assert _through_the_provider(console, "/").status_code == 403, "a console user nobody linked"


@pytest.mark.parametrize(
    "variant",
    [str.upper, lambda name: f" {name} ", lambda name: "ſ" + name[1:], lambda name: name.capitalize() + "\t"],
)
def test_case_space_and_unicode_variants_of_a_username_sign_in_as_nobody(
    console, provider, infra, variant
) -> None:
    supervisor = _person(infra, provider, username=f"supervisor-{uuid.uuid4().hex[:6]}")
    provider.person, provider.subject = variant(supervisor), f"idp-{variant(supervisor)}"
    refused = _through_the_provider(console, "/")
    assert refused.status_code == 403 and SESSION_COOKIE not in refused.cookies
    provider.person, provider.subject = variant(supervisor), f"IDP-{supervisor.upper()}"
    assert _through_the_provider(console, "/").status_code == 403, "a subject is compared exactly too"


@pytest.mark.parametrize(
    "next_page",
    [
        "/%5Ccross.test:8765/phish",
        "/%255Ccross.test:8765/phish",
        "/%5Ctx/host",
        "/%09/cross.test",
        "/%09x/host",
        "//evil.example",
        "https://evil.example/",
        "/%2F/evil.example",
        "/" + "a" * 32 * 1024,
    ],
)
def test_the_way_back_after_the_provider_is_a_page_of_the_console(
    console, provider, infra, next_page
) -> None:
    provider.person, provider.subject = _person(infra, provider), None
    signed_in = _through_the_provider(console, next_page)
    assert signed_in.status_code == 200 and 'content="0; url=/"' in signed_in.text
    assert '<a href="/">' in signed_in.text


def test_sign_ins_begun_are_capped_and_their_starts_throttled_per_address(provider, infra) -> None:
    with _console(infra, provider, console_sign_ins_per_address_per_minute=100_000) as console:
        for _ in range(MAX_PENDING + 100):
            assert console.get("/sign-in/oidc", params={"next": "/" + "a" * 32 * 1024}).status_code == 303
        held = console.app.state.console.provider
        assert held.pending == MAX_PENDING
        assert max(len(p.next_page) for p in held._pending.values()) == 1, "a `next` too long is `/`"
        provider.person, provider.subject = _person(infra, provider), None
        assert _through_the_provider(console, "/report").status_code == 200, "a new sign-in still works"
    with _console(infra, provider) as console:
        state = console.app.state.console
        state.sign_in_throttle = SignInThrottle.from_settings(state.settings, clock=lambda: 0.0)
        for _ in range(20):
            assert console.get("/sign-in/oidc").status_code == 303
        refused = console.get("/sign-in/oidc", headers={"Accept-Language": "en"})
        assert refused.status_code == 429 and "Too many sign-in attempts" in refused.text
        assert int(refused.headers["retry-after"]) >= 1


def test_an_answer_meant_for_another_browser_and_the_password_form_are_refused(
    console, provider, infra
) -> None:
    provider.person, provider.subject = _person(infra, provider), None
    sent = console.get("/sign-in/oidc")
    back = httpx.get(sent.headers["location"], follow_redirects=False)
    callback = urlsplit(back.headers["location"])
    console.cookies.clear()  # another browser: it never started this sign-in
    answer = console.get(f"{callback.path}?{callback.query}")
    assert answer.status_code == 401 and SESSION_COOKIE not in answer.cookies
    state = parse_qs(callback.query)["state"][0]
    assert state not in answer.text
    password = console.post(
        "/sign-in", data={"username": provider.person, "password": "a long enough password 42"}
    )
    assert password.status_code == 403, "passwords are off while a provider is configured"
